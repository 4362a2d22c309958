"""docs/benchmarks.md's tables (not a test): what threads, the parallel gate and start-up cost.

Parts (``--parts``, default all):

* ``threads``: s/epoch of each port at 1 and 2 intra-op threads (``--threads``), with the
  machine otherwise as it is ("idle") and with another core kept busy by a busy loop
  ("busy"). Each figure is one fresh process training ``--epochs`` epochs of the ``ci``
  config; its s/epoch is the median epoch after the first (warm-up). Thread counts
  alternate within each repetition; the table gives the median over ``--reps``.
* ``gate``: wall time of ``rnn-harness check --all --profile ci`` as a whole process, on the
  local process pool (the default) and with ``--workers 1`` (sequential), alternating.
* ``startup``: whole-process wall time of ``check elman_sine/torch --profile tutorial
  --no-segments`` against the article's own code for the same 300 epochs, and the cost of
  torch's deterministic mode: ``torch.use_deterministic_algorithms(True)`` against the
  torch backend's ``seed`` (same flag, no compiler import).
* ``originals``: each port against its original code, ``benchmarks/bench.py``'s cases.

Every number comes with the 1-minute load average read while it was measured (this CPU
may be shared), the machine and the versions. Usage::

    RNN_HARNESS_DATA=../shared/data python benchmarks/readme_table.py --reps 5
    python benchmarks/readme_table.py --parts threads --ports elman_sine/torch --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PARTS = ("threads", "gate", "startup", "originals")
THREADS = (1, 2)


def load() -> float:
    return os.getloadavg()[0]


@contextmanager
def busy_core() -> Iterator[None]:
    """Another process spinning on one core for the duration (a neighbour's job)."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        spinner.kill()
        spinner.wait()


def child(argv: Sequence[str], timeout: float = 1800) -> tuple[float, str]:
    """(wall seconds, stdout) of ``python argv`` in a fresh process, run from the repo root."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return wall, done.stdout


def epoch_time(port_id: str, threads: int, epochs: int) -> dict:
    """In this (fresh) process: train ``epochs`` ci epochs at ``threads`` threads."""
    from harness.registry import default_registry
    from harness.runner import run_port
    from harness.seeding import override_threads

    override_threads(threads)  # before the port imports its framework
    registry = default_registry()
    config = registry.spec(registry.get(port_id).tutorial).profile("ci")
    if hasattr(config, "epochs"):
        config = replace(config, epochs=epochs)
    traj = run_port(port_id, "ci", config=config, registry=registry)
    wall = list(traj.timing["wall_s"])
    return {"s_per_epoch": statistics.median(wall[1:] or wall), "threads": traj.meta["threads"]}


def median_with_load(samples: list[tuple[float, float]]) -> str:
    """'median (load L)' of (value, load) samples."""
    values = [v for v, _ in samples]
    loads = [ld for _, ld in samples]
    return f"{statistics.median(values):.4g} (load {statistics.median(loads):.1f})"


def part_threads(ports: Sequence[str], reps: int, epochs: int) -> str:
    rows = []
    for port_id in ports:
        cells = {}
        for where in ("idle", "busy"):
            samples: dict[int, list[tuple[float, float]]] = {t: [] for t in THREADS}
            with busy_core() if where == "busy" else nullcontext():
                for rep in range(reps):
                    for threads in (THREADS if rep % 2 == 0 else THREADS[::-1]):
                        before = load()
                        _, out = child([__file__, "--epoch-time", port_id, str(threads),
                                        str(epochs)])
                        got = json.loads(out.strip().splitlines()[-1])
                        samples[threads].append((got["s_per_epoch"], (before + load()) / 2))
            for threads in THREADS:
                cells[(where, threads)] = median_with_load(samples[threads])
        rows.append([port_id, *(cells[(w, t)] for w in ("idle", "busy") for t in THREADS)])
        print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    headers = ["port", *(f"s/epoch {t} thread{'s' * (t > 1)}, {w}"
                         for w in ("idle", "busy") for t in THREADS)]
    return markdown(headers, rows)


def _alternating(cases: dict[str, list[str]], reps: int) -> dict[str, list[tuple[float, float]]]:
    """Whole-process wall times of each case, alternating, with the load around each."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for rep in range(reps):
        names = list(cases) if rep % 2 == 0 else list(cases)[::-1]
        for name in names:
            before = load()
            wall, _ = child(cases[name])
            times[name].append((wall, (before + load()) / 2))
            print(f"  {name}: {wall:.1f} s", file=sys.stderr, flush=True)
    return times


def part_gate(reps: int, extra: Sequence[str]) -> str:
    base = ["-m", "harness", "check", "--all", "--profile", "ci", *extra]
    times = _alternating({"parallel (default: one worker per core)": base,
                          "sequential (--workers 1)": [*base, "--workers", "1"]}, reps)
    return markdown(["ci gate, check --all", "wall s"],
                    [[name, median_with_load(v)] for name, v in times.items()])


DETERMINISM = {
    "torch.use_deterministic_algorithms(True)":
        "import torch, time; t = time.perf_counter(); torch.use_deterministic_algorithms(True);"
        " print(time.perf_counter() - t)",
    "torch backend seed (same flag, no compiler import)":
        "import torch, time; from harness.backends import torch_backend as tb; "
        "t = time.perf_counter(); tb.seed(0); print(time.perf_counter() - t)",
}


def part_startup(reps: int) -> str:
    cases = {"rnn-harness check elman_sine/torch --profile tutorial --no-segments":
             ["-m", "harness", "check", "elman_sine/torch", "--profile", "tutorial",
              "--no-segments"],
             "article's own code, 300 epochs (tests/oracles)":
             ["-c", "from tests.oracles.elman_sine_original import run; run(seed=0, epochs=300)"]}
    times = _alternating(cases, reps)
    rows = [[name, median_with_load(v)] for name, v in times.items()]
    for name, code in DETERMINISM.items():
        samples = []
        for _ in range(reps):
            before = load()
            _, out = child(["-c", code])
            samples.append((float(out.split()[-1]), (before + load()) / 2))
        rows.append([name, median_with_load(samples)])
    return markdown(["whole process", "wall s"], rows)


def part_originals(reps: int, cases: Sequence[str] | None) -> str:
    import bench  # benchmarks/bench.py, beside this file

    rows = []
    for name in cases or bench.CASES:
        before = load()
        wall, out = child([str(Path(bench.__file__)), "--case", name, "--reps", str(reps)])
        row = json.loads(out.strip().splitlines()[-1])
        rows.append({**row, "load": (before + load()) / 2})
        print(f"  {name}: {wall:.0f} s", file=sys.stderr, flush=True)
    body = [[r["case"], r["epochs"], f"{r.get('original_s', float('nan')):.3f}",
             f"{r['harness_s']:.3f}", f"{r['ratio']:.2f}x" if "ratio" in r else "n/a",
             f"{100 * r['overhead']:+.1f} %", f"{r['load']:.1f}"] for r in rows]
    return markdown(["port", "epochs", "original s", "port s", "original/port",
                     "harness overhead", "load"], body)


def markdown(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def environment() -> dict:
    from harness.seeding import environment_info

    env = environment_info()
    return {"cpu": env["processor"], "cores": os.cpu_count(), "python": env["python"],
            "versions": {k: v for k, v in env["versions"].items() if v},
            "load average at start": [round(x, 2) for x in os.getloadavg()]}


def available_ports() -> list[str]:
    from harness.registry import default_registry

    registry = default_registry()
    return [p for p in registry.ids() if registry.available(p)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="*", choices=PARTS, default=list(PARTS))
    parser.add_argument("--reps", type=int, default=5, help="alternating repetitions (median)")
    parser.add_argument("--ports", nargs="*", help="ports for the threads part (default all)")
    parser.add_argument("--epochs", type=int, default=5, help="ci epochs per threads sample")
    parser.add_argument("--cases", nargs="*", help="bench.py cases for originals (default all)")
    parser.add_argument("--gate-args", nargs=argparse.REMAINDER, default=[],
                        help="extra arguments for the gate's check --all (last option)")
    parser.add_argument("--epoch-time", nargs=3, metavar=("PORT", "THREADS", "EPOCHS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="write the Markdown here too")
    args = parser.parse_args()
    if args.epoch_time:
        port_id, threads, epochs = args.epoch_time
        print(json.dumps(epoch_time(port_id, int(threads), int(epochs))))
        return 0
    sys.path.insert(0, str(Path(__file__).parent))
    runs: dict[str, Callable[[], str]] = {
        "threads": lambda: part_threads(args.ports or available_ports(), args.reps, args.epochs),
        "gate": lambda: part_gate(args.reps, args.gate_args),
        "startup": lambda: part_startup(args.reps),
        "originals": lambda: part_originals(args.reps, args.cases),
    }
    sections = [f"```\n{json.dumps(environment(), indent=1)}\n```"]
    for part in args.parts:
        print(f"benchmarking {part} ({args.reps} reps)...", file=sys.stderr, flush=True)
        sections.append(f"### {part}\n\n{runs[part]()}")
    sections.append(f"load average at the end: {[round(x, 2) for x in os.getloadavg()]}")
    text = "\n\n".join(sections) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
