"""Invariants that need separate processes or devices: seeded determinism, thread counts and
short CPU-vs-device trajectories. Runs use the probe's short config (``Probe.short_config``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping

import numpy as np

from harness.interface import Tolerance
from harness.invariants import Example, InvariantViolation, gap, gap_lines

#: Run in a fresh interpreter: argv = registry target, port id, probe target ("" for the
#: tutorial's reference_impls spec), seed, device.
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


def _start(port_id: str, seeds: tuple[int, ...], device: str, registry: str, probe: str,
           env: Mapping[str, str] | None) -> subprocess.Popen[str]:
    argv = [sys.executable, "-c", _CHILD, registry, port_id, probe,
            ",".join(map(str, seeds)), device]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def _collect(port_id: str, proc: subprocess.Popen[str]) -> list[dict[str, list[float]]]:
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{port_id}: the child run failed:\n{stderr[-3000:]}")
    runs = json.loads(stdout.strip().splitlines()[-1])
    return [{k: [float.fromhex(x) for x in v] for k, v in run.items()} for run in runs]


def trajectories_in_subprocess(port_id: str, seeds: tuple[int, ...], *, device: str = "cpu",
                               registry: str = DEFAULT_REGISTRY, probe: str = "",
                               env: Mapping[str, str] | None = None
                               ) -> list[dict[str, list[float]]]:
    """The short run's per-epoch metrics (exact, via float.hex) for each seed, in one fresh
    process. ``probe`` is a "module:attr" target ("" = the tutorial's reference spec)."""
    return _collect(port_id, _start(port_id, seeds, device, registry, probe, env))


def check_determinism(port_id: str, seed: int = 0, *, registry: str = DEFAULT_REGISTRY,
                      probe: str = "") -> None:
    """Two processes with one seed give bitwise-identical trajectories; another seed does not.

    The two processes run side by side; the first also runs ``seed + 1``.
    """
    example = Example({}, seed)
    procs = [_start(port_id, seeds, "cpu", registry, probe, None)
             for seeds in ((seed, seed + 1), (seed,))]
    (first, other), (second,) = (_collect(port_id, p) for p in procs)
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


def _first_difference(a: dict[str, list[float]], b: dict[str, list[float]]
                      ) -> tuple[str, int, float, float]:
    for metric, values in a.items():
        for epoch, (x, y) in enumerate(zip(values, b.get(metric, []), strict=False)):
            if x != y and not (np.isnan(x) and np.isnan(y)):
                return metric, epoch, x, y
    return "(columns)", 0, float("nan"), float("nan")


#: Thread settings read at framework import (torch: OMP/MKL; MXNet: OMP for its operators).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def thread_count_effect(port_id: str, threads: tuple[int, ...] = (1, 2), seed: int = 0, *,
                        registry: str = DEFAULT_REGISTRY, probe: str = "",
                        variables: tuple[str, ...] = THREAD_VARIABLES) -> dict[int, float]:
    """Max relative difference of the short run at each thread count against the first.

    Each of ``variables`` is set to the count before the framework starts. Pass
    ``("MXNET_CPU_WORKER_NTHREADS",)`` for MXNet's engine workers separately: with both
    OMP_NUM_THREADS=2 and 2 workers on a 2-core CPU, MXNet's char_rnn at hidden 512 ran
    >100x slower (oversubscribed OpenMP threads), measured on this project's CI machine.
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
    """The probe's short run on ``device`` follows the CPU run within ``tol``."""
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


__all__ = ["check_determinism", "check_device_trajectory", "thread_count_effect",
           "trajectories_in_subprocess"]
