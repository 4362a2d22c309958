"""Benchmarks (not tests): each port against its original code, and what observing costs.

Run: ``RNN_HARNESS_DATA=../shared/data python benchmarks/bench.py [--reps 5] [--out FILE]``.
Each case runs in its own process at one intra-op thread and with the import-time objects
frozen out of the garbage collector's reach (the harness's process policy,
``harness.runner.freeze_imported_objects``, applied to the original too), alternating the
original, the port as the harness runs it (observables on) and the port with observables
off, ``--reps`` rounds (more for a short case: ``--min-seconds`` of training per side);
medians of wall and CPU (user + sys of the process) time. ``port/original`` > 1 means the
port is slower; ``observer`` = 1 - (observables off) / (observables on), in CPU time.
Times include building the data and the model, as a user's run would.

Whole processes (``hyperfine``): ``--run CASE --side port|original`` trains one side once::

    hyperfine -N -r 5 'python benchmarks/bench.py --run elman_sine/torch --side original' \
        'python benchmarks/bench.py --run elman_sine/torch --side port'
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.seeding import thread_env  # noqa: E402  (imports no framework)

os.environ.update(thread_env(1))  # before any framework is imported: MXNet reads it once

#: case -> (port id, epochs timed, original code's runner as "module:function" + kwargs)
CASES: dict[str, tuple[str, int, str, dict]] = {
    "elman_sine/torch": ("elman_sine/torch", 300, "tests.oracles.elman_sine_original:run",
                         {"seed": 0, "epochs": 300}),
    "rnn_windows/torch": ("rnn_windows/torch", 30, "tests.oracles.rnn_windows_original:run",
                          {"seed": 0, "epochs": 30}),
    "sin_cos/torch": ("sin_cos/torch", 60, "tests.oracles.sin_cos_original:run",
                      {"seed": 1, "n_steps": 60}),
    "char_rnn/torch-scratch": ("char_rnn/torch-scratch", 5, "torch-d2l:scratch", {}),
    "char_rnn/torch-concise": ("char_rnn/torch-concise", 5, "torch-d2l:concise", {}),
    "char_rnn/mxnet-scratch": ("char_rnn/mxnet-scratch", 5, "mxnet-d2l:scratch", {}),
    "char_rnn/mxnet-concise": ("char_rnn/mxnet-concise", 5, "mxnet-d2l:concise", {}),
    # ports without an original in another framework: harness overhead only
    "elman_sine/mxnet": ("elman_sine/mxnet", 300, "", {}),
    "rnn_windows/mxnet": ("rnn_windows/mxnet", 30, "", {}),
    "sin_cos/mxnet": ("sin_cos/mxnet", 60, "", {}),
}


def _plotting_stubs() -> None:
    """BENCHMARK-ONLY: empty modules for what ``d2l`` (0.17.6) imports at its top for its
    plots and tables, where they are not installed (the torch and mxnet envs lack them);
    chapter 8's functions that the originals call never use them. Install d2l itself with
    ``pip install --no-deps d2l==0.17.6`` (or run in the cross env)."""
    import importlib.util

    for name, attrs in (("pandas", ()), ("requests", ()), ("IPython", ("display",)),
                        ("matplotlib", ("pyplot",)), ("matplotlib_inline", ("backend_inline",)),
                        ("PIL", ("Image",))):
        if name in sys.modules or importlib.util.find_spec(name) is not None:
            continue
        root = sys.modules[name] = _empty_module(name)
        for attr in attrs:
            sub = sys.modules[f"{name}.{attr}"] = _empty_module(f"{name}.{attr}")
            setattr(root, attr, sub)


def _empty_module(name: str) -> Any:
    import importlib.machinery
    import types

    module = types.ModuleType(name, "Empty benchmark stub (benchmarks/bench.py).")
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # torch._dynamo looks
    return module


def _original(target: str, kwargs: dict, epochs: int) -> Callable[[], object]:
    if target.startswith(("torch-d2l:", "mxnet-d2l:")):
        _plotting_stubs()
    if target.startswith("torch-d2l:"):
        from tests.reference_impls.char_rnn.conftest import (  # noqa: PLC0415
            _torchvision_loads,
            _torchvision_stub,
        )

        if not _torchvision_loads():
            sys.modules.update(_torchvision_stub())
        from harness.corpus import find_corpus
        from tests.oracles import char_rnn_torch_original as oracle

        variant = target.split(":")[1]
        return lambda: oracle.run(variant, find_corpus(), seed=0, num_epochs=epochs)
    if target.startswith("mxnet-d2l:"):
        from harness.corpus import find_corpus
        from tests.oracles import char_rnn_mxnet_original as oracle

        variant = target.split(":")[1]
        return lambda: oracle.run_epochs(variant, find_corpus(), seed=0, num_epochs=epochs)
    module, _, name = target.partition(":")
    func = getattr(__import__(module, fromlist=[name]), name)
    return lambda: func(**kwargs)


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of one call; CPU is this process's user + sys time."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _one_thread() -> None:
    """The harness's thread policy for every side: one intra-op thread (the environment
    comes from ``main``/the caller; torch reads its count at run time)."""
    os.environ.update(thread_env(1))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def sides(name: str) -> dict[str, Callable[[], object]]:
    """The callables a case times: port (observables on), port without observables, and
    the original where there is one."""
    from harness.interface._observe import NullObserver
    from harness.registry import default_registry
    from harness.runner import freeze_imported_objects, run_port, start_port, train_started

    port_id, epochs, target, kwargs = CASES[name]
    registry = default_registry()
    spec = registry.spec(registry.get(port_id).tutorial)
    config = replace(spec.profile("tutorial"), epochs=epochs)

    def observed() -> None:
        run_port(port_id, "tutorial", config=config, threads=1)

    def unobserved() -> None:
        # run_port's own path (metadata, finiteness checks, outputs) with the schedule's
        # NullObserver: the "observer" column is then the observer's cost alone (a plain
        # train() loop left out run_port's ~1.5 ms, 2 % of sin_cos's run)
        started = start_port(port_id, "tutorial", config=config, threads=1)
        started.port.loop.observer = NullObserver()
        train_started(started)

    out: dict[str, Callable[[], object]] = {"port": observed, "unobserved": unobserved}
    if target:
        out["original"] = _original(target, kwargs, epochs)
    _one_thread()
    freeze_imported_objects()  # the harness's process policy, for the original too
    return out


def run_case(name: str, reps: int, min_seconds: float = 0.0) -> dict:
    fns = sides(name)
    warm = {key: _timed(fn)[1] for key, fn in fns.items()}  # imports, allocator, lazy init
    # a short case (sin_cos: 60 epochs in 0.07 s) gets more rounds, so that each side's
    # median is taken over at least ``min_seconds`` of training
    reps = max(reps, math.ceil(min_seconds / max(min(warm.values()), 1e-3)))
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for key, fn in fns.items():
            w, c = _timed(fn)
            wall[key].append(w)
            cpu[key].append(c)
    row: dict[str, Any] = {"case": name, "epochs": CASES[name][1], "reps": reps,
                           "load": os.getloadavg()[0]}
    for key in fns:
        row[f"{key}_wall_s"] = statistics.median(wall[key])
        row[f"{key}_cpu_s"] = statistics.median(cpu[key])
    row["observer"] = 1 - row["unobserved_cpu_s"] / row["port_cpu_s"]
    if "original" in fns:
        row["ratio_wall"] = row["port_wall_s"] / row["original_wall_s"]
        row["ratio_cpu"] = row["port_cpu_s"] / row["original_cpu_s"]
    return row


def environment() -> dict:
    with open("/proc/cpuinfo") as info:
        cpu = next((ln.split(":", 1)[1].strip() for ln in info
                    if ln.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            **{name: _version(name) for name in ("torch", "mxnet", "numpy")}}


def _version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def table(rows: list[dict]) -> str:
    from tabulate import tabulate

    def pair(r: dict, key: str) -> str:
        if f"{key}_cpu_s" not in r:
            return "n/a"
        return f"{r[f'{key}_cpu_s']:.2f} / {r[f'{key}_wall_s']:.2f}"

    body = [[r["case"], r["epochs"], r["reps"], pair(r, "original"), pair(r, "port"),
             pair(r, "unobserved"),
             f"{r['ratio_cpu']:.2f}x / {r['ratio_wall']:.2f}x" if "ratio_cpu" in r else "n/a",
             f"{100 * r['observer']:.0f} %", f"{r['load']:.1f}"] for r in rows]
    return tabulate(body, headers=["port", "epochs", "rounds", "original s (CPU / wall)",
                                   "port s (CPU / wall)", "port, observables off s",
                                   "port/original (CPU / wall)", "observer (CPU)", "load"],
                    tablefmt="github")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5, help="repetitions per case (median)")
    parser.add_argument("--min-seconds", type=float, default=3.0,
                        help="more repetitions for a short case: at least this many seconds "
                        "of training per side (default 3)")
    parser.add_argument("--case", help="run one case in this process and print JSON")
    parser.add_argument("--only", nargs="*", default=None, help="cases to run (default all)")
    parser.add_argument("--out", type=Path, help="write the Markdown table here too")
    parser.add_argument("--run", metavar="CASE", help="train one side of CASE once and exit "
                        "(a whole process for hyperfine)")
    parser.add_argument("--side", choices=("port", "unobserved", "original"), default="port")
    args = parser.parse_args()
    if args.run:
        sides(args.run)[args.side]()
        return 0
    if args.case:
        print(json.dumps(run_case(args.case, args.reps, args.min_seconds)))
        return 0
    rows = []
    for name in args.only or CASES:
        print(f"benchmarking {name} ({args.reps} reps)...", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, __file__, "--case", name, "--reps",
                               str(args.reps), "--min-seconds", str(args.min_seconds)],
                              capture_output=True, text=True,
                              env={**os.environ, **thread_env(1)})
        if done.returncode != 0:
            print(f"  {name} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    text = f"{json.dumps(environment())}\n\n{table(rows)}\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
