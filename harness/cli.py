"""The ``rnn-harness`` command line: thin argparse over runner, golden store and comparison."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from harness.backends import FRAMEWORKS, framework_available
from harness.checking import check_port, record_port
from harness.errors import EXIT_REGRESSION, DivergenceError, HarnessError, UsageError
from harness.golden import GoldenStore
from harness.registry import Registry, default_registry
from harness.report import regression_message
from harness.runner import ProgressFn

if TYPE_CHECKING:
    from harness.envelope import EnvelopeCheck
    from harness.executor import Executor, Job, ResultFn

# Wide enough for the tables when output goes to a file or CI log (rich assumes 80 there).
_WIDTH = None if sys.stdout.isatty() else 160
out = Console(highlight=False, width=_WIDTH)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)

EXIT_CODES = """exit codes:
  0  every port checked matches its golden
  1  regression: a run left its tolerance, or training diverged (NaN/inf)
  2  usage or input error: unknown port/profile, missing or broken golden,
     framework or device not available here; nothing was compared"""


def default_golden_dir() -> Path:
    """$RNN_HARNESS_GOLDEN, else the repo's golden/ beside this package, else ./golden."""
    if os.environ.get("RNN_HARNESS_GOLDEN"):
        return Path(os.environ["RNN_HARNESS_GOLDEN"])
    beside = Path(__file__).resolve().parent.parent / "golden"
    return beside if beside.is_dir() else Path("golden")


def progress_bar_columns() -> tuple[ProgressColumn, ...]:
    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"), TimeElapsedColumn())


@contextmanager
def progress_bar(label: str) -> Iterator[ProgressFn]:
    """A transient rich progress bar on stderr, fed by the runner's per-epoch callback."""
    with Progress(*progress_bar_columns(), console=err, transient=True) as bar:
        task = bar.add_task(label, total=None, last="")

        def update(done: int, total: int, metrics: object) -> None:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in dict(metrics).items())  # type: ignore[call-overload]
            bar.update(task, completed=done, total=total or None, last=shown)

        yield update


def _resolve_ports(registry: Registry, ports: Sequence[str], use_all: bool
                   ) -> tuple[list[str], list[str]]:
    """(ports to run, ports skipped because their framework is missing)."""
    if use_all == bool(ports):
        raise UsageError("Name the ports to run, or pass --all, but not both.",
                         context={"ports": " ".join(ports) or None, "--all": use_all},
                         fix="e.g. `rnn-harness check elman_sine/torch --profile ci` "
                         "or `rnn-harness check --all --profile ci`.")
    for port_id in ports:
        registry.get(port_id)  # unknown ids fail here, before any training
    if ports:
        return list(ports), []
    chosen = [p for p in registry.ids() if registry.available(p)]
    return chosen, [p for p in registry.ids() if p not in chosen]


def cmd_list(args: argparse.Namespace, registry: Registry) -> int:
    frameworks = ", ".join(f"{f} ({'installed' if framework_available(f) else 'missing'})"
                           for f in FRAMEWORKS)
    out.print(f"frameworks: {frameworks}")
    table = Table("port", "framework", "available", "profiles", "source")
    for entry in registry.entries():
        spec = registry.spec(entry.tutorial)
        profiles = ", ".join(f"{n} ({getattr(c, 'epochs', '?')} epochs)"
                             for n, c in spec.profiles.items())
        table.add_row(entry.port_id, entry.framework,
                      "yes" if framework_available(entry.framework) else
                      f"no: pip install 'rnn-harness[{entry.framework}]'",
                      profiles, textwrap.shorten(spec.source, 50))
    out.print(table)
    return 0


def cmd_record(args: argparse.Namespace, registry: Registry) -> int:
    store = _store(args)
    ports, skipped = _resolve_ports(registry, args.ports, args.all)
    for port_id in skipped:
        err.print(f"skipped {port_id}: its framework is not installed")
    if args.seeds is not None:
        return _record_envelopes(args, registry, store, ports)
    for port_id in ports:
        with progress_bar(f"record {port_id} ({args.profile})") as bar:
            traj = record_port(port_id, args.profile, store, seed=args.seed,
                               device=args.device, registry=registry, progress=bar)
        last = {k: f"{v[-1]:.6g}" for k, v in traj.metrics.items()}
        out.print(f"recorded {port_id} ({args.profile}): {traj.num_epochs} epochs, final "
                  f"{last} -> {store.path(port_id, args.profile)}")
    return 0


def cmd_check(args: argparse.Namespace, registry: Registry) -> int:
    store = _store(args)
    ports, skipped = _resolve_ports(registry, args.ports, args.all)
    if args.envelope or args.executor or args.scheduler:
        return _check_envelopes(args, registry, store, ports, skipped)
    table = Table("port", "profile", "status", "epochs", "final", "max rel err",
                  "first divergent", "s/epoch", title=f"rnn-harness check ({args.profile})")
    worst = 0
    for port_id in ports:
        try:
            worst = max(worst, _check_one(port_id, args, registry, store, table))
        except HarnessError as exc:
            err.print(str(exc), markup=False)
            status = "DIVERGED" if isinstance(exc, DivergenceError) else "ERROR"
            table.add_row(port_id, args.profile, status, "", "", "", "", "")
            worst = max(worst, exc.exit_code)
    for port_id in skipped:
        fw = registry.get(port_id).framework
        table.add_row(port_id, args.profile, f"skipped (pip install 'rnn-harness[{fw}]')",
                      "", "", "", "", "")
    out.print(table)
    return worst


def _check_one(port_id: str, args: argparse.Namespace, registry: Registry,
               store: GoldenStore, table: Table) -> int:
    with progress_bar(f"check {port_id} ({args.profile})") as bar:
        result = check_port(port_id, args.profile, store, device=args.device,
                            registry=registry, progress=bar)
    comp, obtained = result.comparison, result.obtained
    if not comp.passed:
        err.print(regression_message(comp, store.path(port_id, args.profile)), markup=False)
    final = ", ".join(f"{k} {v[-1]:.5g}" for k, v in obtained.metrics.items())
    first = "" if comp.first_divergent_epoch is None else str(comp.first_divergent_epoch)
    per_epoch = obtained.timing["wall_s"].mean() if obtained.num_epochs else 0.0
    table.add_row(port_id, args.profile, "pass" if comp.passed else "REGRESSION",
                  str(obtained.num_epochs), final, f"{comp.max_rel_error:.2g}", first,
                  f"{per_epoch:.3f}")
    return 0 if comp.passed else EXIT_REGRESSION


def _executor(args: argparse.Namespace) -> Executor | None:
    from harness.executor import make_executor

    if args.executor is None and args.scheduler is None:
        return None
    return make_executor(args.executor or "local", scheduler=args.scheduler,
                         workers=args.workers)


@contextmanager
def _sweep_progress(label: str) -> Iterator[ResultFn]:
    """A progress bar over a sweep's jobs; each failed job is printed as it arrives."""
    from harness.executor import JobFailure

    with Progress(*progress_bar_columns(), console=err, transient=True) as bar:
        task = bar.add_task(label, total=None, last="")

        def update(job: Job, outcome: object) -> None:
            if isinstance(outcome, JobFailure):
                err.print(f"failed: {job.label}: {outcome.message}", markup=False)
            bar.update(task, advance=1, last=job.label)

        yield update


def _record_envelopes(args: argparse.Namespace, registry: Registry, store: GoldenStore,
                      ports: list[str]) -> int:
    from harness.envelope import record_envelopes

    if args.seed is not None:
        raise UsageError("--seed and --seeds exclude each other.",
                         context={"--seed": args.seed, "--seeds": args.seeds},
                         fix="an envelope's seeds are the spec's seed and the N-1 after it: "
                         "drop --seed.")
    with _sweep_progress(f"record {args.seeds}-seed envelopes ({args.profile})") as bar:
        done = record_envelopes(ports, args.profile, store, args.seeds, device=args.device,
                                executor=_executor(args), registry=registry,
                                batched=not args.no_batch, on_result=bar)
    worst = 0
    for port_id, env in done.items():
        if isinstance(env, HarnessError):
            err.print(str(env), markup=False)
            worst = max(worst, env.exit_code)
            continue
        out.print(f"recorded {len(env.seeds)}-seed envelope of {port_id} ({args.profile}), "
                  f"{env.meta['computation']} -> {store.path(port_id, args.profile)}")
    return worst


def _check_envelopes(args: argparse.Namespace, registry: Registry, store: GoldenStore,
                     ports: list[str], skipped: list[str]) -> int:
    from harness.envelope import EnvelopeCheck, check_envelopes

    if not args.envelope:
        raise UsageError("--executor and --scheduler apply to sweeps: `record --seeds N` "
                         "and `check --envelope`.", context={"--executor": args.executor},
                         fix="add --envelope, or drop --executor/--scheduler.")
    table = Table("port", "profile", "envelope", "outside at epochs", "seeds",
                  "single-seed golden", "final", title=f"rnn-harness check --envelope "
                  f"({args.profile})")
    with _sweep_progress(f"check --envelope ({args.profile})") as bar:
        done = check_envelopes(ports, args.profile, store, device=args.device,
                               executor=_executor(args), registry=registry, on_result=bar)
    worst = 0
    for port_id, res in done.items():
        if not isinstance(res, EnvelopeCheck):
            err.print(str(res), markup=False)
            table.add_row(port_id, args.profile, "ERROR", "", "", "", "")
            worst = max(worst, res.exit_code)
            continue
        worst = max(worst, _envelope_row(port_id, args.profile, res, store, table))
    for port_id in skipped:
        fw = registry.get(port_id).framework
        table.add_row(port_id, args.profile, f"skipped (pip install 'rnn-harness[{fw}]')",
                      "", "", "", "")
    out.print(table)
    return worst


def _envelope_row(port_id: str, profile: str, res: EnvelopeCheck, store: GoldenStore,
                  table: Table) -> int:
    from harness.envelope import epoch_ranges, verdict_message

    verdict, golden = res.verdict, res.golden
    if not verdict.inside:
        err.print(verdict_message(verdict, store.path(port_id, profile)), markup=False)
    single = ("none recorded" if golden is None else "pass" if golden.passed else
              f"REGRESSION (epoch {golden.first_divergent_epoch}, "
              f"max rel err {golden.max_rel_error:.2g})")
    final = ", ".join(f"{k} {v[-1]:.5g}" for k, v in res.obtained.metrics.items())
    table.add_row(port_id, profile, "inside" if verdict.inside else "REGRESSION",
                  epoch_ranges(verdict.outside_epochs), str(verdict.seeds), single, final)
    return 0 if verdict.inside else EXIT_REGRESSION


def cmd_calibrate(args: argparse.Namespace, registry: Registry) -> int:
    from harness.calibrate import calibrate

    ports, _ = _resolve_ports(registry, args.ports, args.all)
    table = Table("port", "profile", "metric", "noise (1 ulp)", "signal (lr +1%)",
                  "spec rtol", "verdict", title="tolerance calibration (max relative difference)")
    for port_id in ports:
        with progress_bar(f"calibrate {port_id} ({args.profile})") as bar:
            cal = calibrate(port_id, args.profile, registry=registry, progress=bar)
        spec = registry.spec(registry.get(port_id).tutorial)
        for metric in spec.metrics:
            rtol = spec.tolerance(metric).rtol
            noise, signal = cal.noise[metric], cal.signal[metric]
            verdict = "ok" if noise < rtol < signal else "TOLERANCE DOES NOT SEPARATE"
            table.add_row(port_id, args.profile, metric, f"{noise:.3g}", f"{signal:.3g}",
                          f"{rtol:g}", verdict)
    out.print(table)
    return 0


def cmd_report(args: argparse.Namespace, registry: Registry) -> int:
    from harness.report_build import collect_runs, load_runs, save_runs
    from harness.report_render import report_files, require_report_extra

    require_report_extra()
    if args.from_runs:
        if args.ports or args.all or args.save_runs:
            raise UsageError("--from-runs builds from saved runs: name no ports, no --all "
                             "and no --save-runs with it.",
                             context={"--from-runs": args.from_runs},
                             fix="e.g. `rnn-harness report --from-runs runs/ --out report/`.")
        runs = load_runs(args.from_runs)
    else:
        ports, skipped = _resolve_ports(registry, args.ports, args.all or not args.ports)
        for port_id in skipped:
            err.print(f"skipped {port_id}: its framework is not installed")
        runs = collect_runs(ports, args.profile, args.device or ["cpu"], registry=registry,
                            golden=_store(args), progress=_logged_progress_bar)
        runs.command = _report_command(args)
        if args.save_runs:
            out.print(f"runs saved -> {save_runs(runs, args.save_runs)}")
    paths = report_files(runs, _store(args), args.out, registry)
    out.print(f"report written -> {paths['report.html']} ({len(runs.runs)} runs, "
              f"{len(runs.failures)} failed)")
    return 0


@contextmanager
def _logged_progress_bar(label: str) -> Iterator[ProgressFn]:
    with progress_bar(label) as bar:
        yield bar
    err.print(f"done {label}")


def _report_command(args: argparse.Namespace) -> str:
    devices = " ".join(f"--device {d}" for d in args.device or ["cpu"])
    return (f"rnn-harness report {' '.join(args.ports) or '--all'} --profile {args.profile} "
            f"{devices} --out {args.out}")


def _store(args: argparse.Namespace) -> GoldenStore:
    return GoldenStore(args.golden_dir)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("ports", nargs="*", metavar="PORT",
                   help="port ids such as elman_sine/torch (see `rnn-harness list`)")
    p.add_argument("--all", action="store_true",
                   help="every registered port whose framework is installed here")
    p.add_argument("--profile", default="ci",
                   help="profile name from the tutorial's spec: 'ci' (short, default) or "
                   "'tutorial' (the article's full settings)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.add_argument("--golden-dir", type=Path, default=default_golden_dir(),
                   help="root of the golden store (default: $RNN_HARNESS_GOLDEN or ./golden)")


def _add_sweep_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=("local", "dask"), default=None,
                   help="where a sweep's runs train: local (a process pool here, the default "
                   "for record --seeds) or dask (dask.distributed; extra: dask)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="with --executor dask: an existing scheduler (default: start a "
                   "LocalCluster on loopback)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: one per core, at most one per run; "
                   "0 with --executor local: train in this process)")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="rnn-harness", formatter_class=fmt,
        description="Train RNN tutorial ports with every RNG seeded and compare their loss/"
        "perplexity trajectories against recorded goldens.",
        epilog="examples:\n  rnn-harness list\n  rnn-harness check --all --profile ci\n"
        "  rnn-harness record elman_sine/torch --profile ci\n\n" + EXIT_CODES)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("list", help="list ports, installed frameworks and profiles",
                       description="List every registered port, whether its framework is "
                       "installed here, and the profiles of its tutorial.",
                       epilog="example:\n  rnn-harness list", formatter_class=fmt)
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("record", help="train and write goldens (the only way goldens change)",
                       formatter_class=fmt,
                       description="Train each port with the profile's config and seed and "
                       "write golden/<tutorial>/<port>/<profile>/. Nothing is written unless "
                       "training completes. Commit the result with a message saying why the "
                       "numbers moved.",
                       epilog="examples:\n  rnn-harness record elman_sine/torch --profile ci\n"
                       "  rnn-harness record --all --profile tutorial\n"
                       "  rnn-harness record elman_sine/torch --profile tutorial --seeds 32\n"
                       "  rnn-harness record sin_cos/mxnet --seeds 8 --executor dask "
                       "--scheduler tcp://127.0.0.1:8786")
    _add_run_options(p)
    p.add_argument("--seed", type=int, default=None, help="seed (default: the spec's)")
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="record a seed envelope instead: per-epoch mean, std, min and max over "
                   "the spec's seed and the N-1 after it (envelope.csv/.json beside the golden)")
    p.add_argument("--no-batch", action="store_true",
                   help="with --seeds: one run per seed even where a seed-batched trainer exists")
    _add_sweep_options(p)
    p.set_defaults(func=cmd_record)
    p = sub.add_parser("check", help="train and compare against goldens (the CI gate)",
                       formatter_class=fmt,
                       description="Train each port and compare its per-epoch figures with "
                       "its golden under the spec's tolerances. Never writes a golden; on a "
                       "regression the run is saved as *.obtained.* beside it.",
                       epilog="examples:\n  rnn-harness check --all --profile ci\n"
                       "  rnn-harness check elman_sine/mxnet --profile tutorial\n"
                       "  rnn-harness check --all --envelope --executor dask\n\n"
                       + EXIT_CODES)
    _add_run_options(p)
    p.add_argument("--envelope", action="store_true",
                   help="classify each run against its seed envelope (recorded with record "
                   "--seeds): inside (noise) or a regression, with the epochs it leaves it")
    _add_sweep_options(p)
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("calibrate", help="measure rounding noise vs a 1%% lr change",
                       formatter_class=fmt,
                       description="Train each port three times: as specified, with every "
                       "initial weight nudged by one ulp (a proxy for another CPU's rounding), "
                       "and with the learning rate raised by 1%%. Prints the largest relative "
                       "trajectory difference of each against the spec's rtol, which must lie "
                       "between them. Writes nothing.",
                       epilog="example:\n  rnn-harness calibrate elman_sine/torch --profile ci")
    _add_run_options(p)
    p.set_defaults(func=cmd_calibrate)
    p = sub.add_parser("report", help="train and write the cross-framework comparison report",
                       formatter_class=fmt, conflict_handler="resolve",
                       description="Train each port (default: every available one), compare it "
                       "with its golden and the other framework's port trained from the same "
                       "initial weights, and write report.md, a self-contained report.html and "
                       "the CSVs into --out. Never writes a golden. Needs the report extra.",
                       epilog="examples:\n  rnn-harness report --out report/\n"
                       "  rnn-harness report --save-runs runs/ --out report/\n"
                       "  rnn-harness report --from-runs runs/ --out report/")
    _add_run_options(p)
    p.add_argument("--device", action="append", help="cpu (default), cuda or cuda:N; "
                   "repeat for one row per port and device")
    p.add_argument("--out", type=Path, default=Path("report"),
                   help="output folder (default: ./report)")
    p.add_argument("--save-runs", type=Path, metavar="DIR",
                   help="also save every run (CSV + JSON) into DIR, for --from-runs")
    p.add_argument("--from-runs", type=Path, metavar="DIR",
                   help="build the report from runs saved with --save-runs, without training")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None,
         registry_factory: Callable[[], Registry] = default_registry) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args, registry_factory()))
    except HarnessError as exc:
        err.print(str(exc), markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("Interrupted: no golden was changed.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
