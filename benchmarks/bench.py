"""Benchmarks (not tests): each port against its original code, and the harness's overhead.

Run: ``RNN_HARNESS_DATA=../shared/data python benchmarks/bench.py [--reps 5] [--out FILE]``.
Each case runs in its own process (so one framework's thread pool does not slow the
other's), alternating the port and the original ``--reps`` times, and reports medians.
``ratio`` = original time / port time: >= 1.0 means the port is at least as fast.
``overhead`` = harness ``run_port`` time / a bare ``build`` + ``train`` loop - 1.
Times include building the data and the model, as a user's run would.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: case -> (port id, epochs timed, original code's runner as "module:function" + kwargs)
CASES: dict[str, tuple[str, int, str, dict]] = {
    "elman_sine/torch": ("elman_sine/torch", 300, "tests.oracles.elman_sine_original:run",
                         {"seed": 0, "epochs": 300}),
    "rnn_windows/torch": ("rnn_windows/torch", 100, "tests.oracles.rnn_windows_original:run",
                          {"seed": 0, "epochs": 100}),
    "sin_cos/torch": ("sin_cos/torch", 60, "tests.oracles.sin_cos_original:run",
                      {"seed": 1, "n_steps": 60}),
    "char_rnn/torch-scratch": ("char_rnn/torch-scratch", 10, "torch-d2l:scratch", {}),
    "char_rnn/torch-concise": ("char_rnn/torch-concise", 10, "torch-d2l:concise", {}),
    "char_rnn/mxnet-scratch": ("char_rnn/mxnet-scratch", 10, "mxnet-d2l:scratch", {}),
    "char_rnn/mxnet-concise": ("char_rnn/mxnet-concise", 10, "mxnet-d2l:concise", {}),
    # ports without an original in another framework: harness overhead only
    "elman_sine/mxnet": ("elman_sine/mxnet", 300, "", {}),
    "rnn_windows/mxnet": ("rnn_windows/mxnet", 100, "", {}),
    "sin_cos/mxnet": ("sin_cos/mxnet", 60, "", {}),
}


def _original(target: str, kwargs: dict, epochs: int) -> Callable[[], object]:
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


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_case(name: str, reps: int) -> dict:
    from harness.registry import default_registry
    from harness.runner import run_port
    from harness.seeding import seed_everything

    port_id, epochs, target, kwargs = CASES[name]
    registry = default_registry()
    spec = registry.spec(registry.get(port_id).tutorial)
    config = replace(spec.profile("tutorial"), epochs=epochs)

    def harness_run() -> None:
        run_port(port_id, "tutorial", config=config)

    def bare_run() -> None:
        seed_everything(spec.default_seed)
        port = registry.load(port_id)
        port.build(config, spec.default_seed, "cpu")
        for _ in port.train():
            pass

    original = _original(target, kwargs, epochs) if target else None
    for fn in filter(None, (harness_run, bare_run, original)):
        fn()  # warm-up: imports, allocator, lazy init
    times: dict[str, list[float]] = {"harness": [], "bare": [], "original": []}
    for _ in range(reps):
        times["harness"].append(_timed(harness_run))
        times["bare"].append(_timed(bare_run))
        if original is not None:
            times["original"].append(_timed(original))
    med = {k: statistics.median(v) for k, v in times.items() if v}
    row = {"case": name, "epochs": epochs, "reps": reps, **{f"{k}_s": v for k, v in med.items()},
           "overhead": med["harness"] / med["bare"] - 1}
    if original is not None:
        row["ratio"] = med["original"] / med["harness"]
    return row


def environment() -> dict:
    from importlib.metadata import version

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                if ln.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": version("torch"), "mxnet": version("mxnet"), "numpy": version("numpy")}


def table(rows: list[dict]) -> str:
    from tabulate import tabulate

    body = [[r["case"], r["epochs"], f"{r.get('original_s', float('nan')):.3f}",
             f"{r['harness_s']:.3f}", f"{r['bare_s']:.3f}",
             f"{r['ratio']:.2f}x" if "ratio" in r else "n/a",
             f"{100 * r['overhead']:+.1f} %"] for r in rows]
    return tabulate(body, headers=["port", "epochs", "original s", "port (harness) s",
                                   "port (bare loop) s", "original/port", "harness overhead"],
                    tablefmt="github")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5, help="repetitions per case (median)")
    parser.add_argument("--case", help="run one case in this process and print JSON")
    parser.add_argument("--only", nargs="*", default=None, help="cases to run (default all)")
    parser.add_argument("--out", type=Path, help="write the Markdown table here too")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.reps)))
        return 0
    rows = []
    for name in args.only or CASES:
        print(f"benchmarking {name} ({args.reps} reps)...", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, __file__, "--case", name, "--reps",
                               str(args.reps)], capture_output=True, text=True)
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
