"""Invariants that need fresh processes or another device: seeded determinism, the effect
of thread counts and short CPU-vs-device trajectories. Runs use the probe's short config
(``Probe.short_config``); every child process is reaped, even when a check fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from contextlib import ExitStack

import numpy as np

from harness.errors import ChildRunError, InvariantViolation
from harness.interface import Example, Tolerance
from harness.invariants._gap import gap, gap_lines

#: Run in a fresh interpreter: argv = registry target, port id, probe target ("" for the
#: tutorial's own spec), seeds, device.
_CHILD = """
import json, sys
from harness.invariants import probe_for
from harness.registry import _import_target
from harness.runner import run_port
target, port_id, probe, seed, device = sys.argv[1:6]
registry = _import_target(target)
registry = registry() if callable(registry) else registry
probe = _import_target(probe) if probe else probe_for(registry.get(port_id).tutorial, registry)
config = probe.short_config()
runs = [run_port(port_id, "ci", seed=int(s), device=device, config=config, registry=registry)
        for s in seed.split(",")]
print(json.dumps([{k: [float(x).hex() for x in v] for k, v in t.metrics.items()} for t in runs]))
"""

DEFAULT_REGISTRY = "harness.registry:default_registry"

Metrics = dict[str, list[float]]


def _start(port_id: str, seeds: tuple[int, ...], device: str, registry: str, probe: str,
           env: Mapping[str, str] | None) -> subprocess.Popen[str]:
    argv = [sys.executable, "-c", _CHILD, registry, port_id, probe,
            ",".join(map(str, seeds)), device]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def _collect(port_id: str, proc: subprocess.Popen[str]) -> list[Metrics]:
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise ChildRunError(
            f"{port_id}: the short run in a child process failed (exit {proc.returncode}).",
            context={"command": f"{sys.executable} -c <harness.invariants child>"},
            details=stderr[-3000:],
            fix="read the child's error above; run the port in this process "
            "(`rnn-harness check PORT --profile ci`) to debug it.", port=port_id)
    runs = json.loads(stdout.strip().splitlines()[-1])
    return [{k: [float.fromhex(x) for x in v] for k, v in run.items()} for run in runs]


def _run_side_by_side(port_id: str, jobs: Sequence[tuple[tuple[int, ...], str,
                                                         Mapping[str, str] | None]],
                      registry: str, probe: str) -> list[list[Metrics]]:
    """Start every (seeds, device, env) job at once and collect them in order. Whatever
    fails, no child outlives the call (a leaked Popen warns, and warnings are errors)."""
    with ExitStack() as stack:
        procs = []
        for seeds, device, env in jobs:
            proc = stack.enter_context(_start(port_id, seeds, device, registry, probe, env))
            # exit runs LIFO: this kill precedes the Popen's own exit (wait, close pipes)
            stack.callback(_kill_if_running, proc)
            procs.append(proc)
        return [_collect(port_id, proc) for proc in procs]


def _kill_if_running(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()


def trajectories_in_subprocess(port_id: str, seeds: tuple[int, ...], *, device: str = "cpu",
                               registry: str = DEFAULT_REGISTRY, probe: str = "",
                               env: Mapping[str, str] | None = None) -> list[Metrics]:
    """The short run's per-epoch metrics (exact, via float.hex) for each seed, in one fresh
    process. ``registry`` and ``probe`` are "module:attr" targets (``probe`` "": the
    tutorial's own ``TutorialSpec.probe``)."""
    runs, = _run_side_by_side(port_id, [(seeds, device, env)], registry, probe)
    return runs


def check_determinism(port_id: str, seed: int = 0, *, registry: str = DEFAULT_REGISTRY,
                      probe: str = "") -> None:
    """Two processes with one seed give bitwise-identical trajectories; another seed does not.

    The two processes run side by side; the first also runs ``seed + 1``.
    """
    example = Example({}, seed)
    (first, other), (second,) = _run_side_by_side(
        port_id, [((seed, seed + 1), "cpu", None), ((seed,), "cpu", None)], registry, probe)
    if first != second:
        metric, epoch, a, b = _first_difference(first, second)
        raise InvariantViolation(
            f"{port_id}: two processes with seed {seed} gave different trajectories.",
            check="determinism", parameter=metric, example=example.describe(), port=port_id,
            context={"first different epoch": epoch, "run 1": a.hex(), "run 2": b.hex()},
            fix="find the unseeded or nondeterministic op (an unseeded generator, a parallel "
            "reduction, an atomic add) and seed it or make it deterministic.")
    if first == other:
        raise InvariantViolation(
            f"{port_id}: seeds {seed} and {seed + 1} gave the same trajectory.",
            check="determinism", parameter="seed", example=example.describe(), port=port_id,
            fix="pass the seed to build() and draw the initial weights from it.")


def _first_difference(a: Metrics, b: Metrics) -> tuple[str, int, float, float]:
    for metric, values in a.items():
        for epoch, (x, y) in enumerate(zip(values, b.get(metric, []), strict=False)):
            if x != y and not (np.isnan(x) and np.isnan(y)):
                return metric, epoch, x, y
    return "(columns)", 0, float("nan"), float("nan")


#: Thread settings read at framework import (OpenMP and MKL, for their operators).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def thread_count_effect(port_id: str, threads: tuple[int, ...] = (1, 2), seed: int = 0, *,
                        registry: str = DEFAULT_REGISTRY, probe: str = "",
                        variables: tuple[str, ...] = THREAD_VARIABLES) -> dict[int, float]:
    """Max relative difference of the short run at each thread count against the first.

    Each of ``variables`` is set to the count before the framework starts, one process per
    count, one after the other (so the runs do not compete for the cores).
    Pass a framework's own worker-pool variable in a separate call: on a 2-core CPU, 2
    engine workers each running 2 OpenMP threads oversubscribe the cores (a recurrent model
    at hidden 512 ran >100x slower, measured on this project's CI machine).
    """
    runs = {}
    for n in threads:
        env = {k: str(n) for k in variables}
        runs[n], = trajectories_in_subprocess(port_id, (seed,), registry=registry,
                                              probe=probe, env=env)
    ref = runs[threads[0]]
    return {n: max(gap(r[k], ref[k], Tolerance(0)).rel_err for k in ref) for n, r in runs.items()}


def check_device_trajectory(port_id: str, device: str, tol: Tolerance, *, seed: int = 0,
                            registry: str = DEFAULT_REGISTRY, probe: str = "") -> float:
    """The probe's short run on ``device`` follows the CPU run within ``tol``; returns the
    worst relative difference."""
    cpu, = trajectories_in_subprocess(port_id, (seed,), registry=registry, probe=probe)
    dev, = trajectories_in_subprocess(port_id, (seed,), device=device, registry=registry,
                                      probe=probe)
    worst = 0.0
    for metric, values in cpu.items():
        g = gap(dev[metric], values, tol)
        if not g.ok:
            raise InvariantViolation(
                f"{port_id}: the short run on {device} leaves the CPU run's tolerance.",
                check="devices", parameter=metric, example=Example({}, seed).describe(),
                port=port_id, context={"epoch": g.index, **gap_lines(g, tol)},
                fix=f"compare {device} and CPU op by op, or re-measure device_tolerance.")
        worst = max(worst, g.rel_err)
    return worst
