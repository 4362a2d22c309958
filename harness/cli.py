"""The ``rnn-harness`` command line: thin argparse over runner, golden store and comparison."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.checking import check_port, record_port
from harness.errors import EXIT_REGRESSION, DivergenceError, HarnessError, UsageError
from harness.golden import GoldenStore
from harness.registry import FRAMEWORKS, Registry, default_registry, framework_available
from harness.report import regression_message
from harness.runner import ProgressFn

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


@contextmanager
def progress_bar(label: str) -> Iterator[ProgressFn]:
    """A transient rich progress bar on stderr, fed by the runner's per-epoch callback."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[last]}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
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
                       "  rnn-harness record --all --profile tutorial")
    _add_run_options(p)
    p.add_argument("--seed", type=int, default=None, help="seed (default: the spec's)")
    p.set_defaults(func=cmd_record)
    p = sub.add_parser("check", help="train and compare against goldens (the CI gate)",
                       formatter_class=fmt,
                       description="Train each port and compare its per-epoch figures with "
                       "its golden under the spec's tolerances. Never writes a golden; on a "
                       "regression the run is saved as *.obtained.* beside it.",
                       epilog="examples:\n  rnn-harness check --all --profile ci\n"
                       "  rnn-harness check elman_sine/mxnet --profile tutorial\n\n"
                       + EXIT_CODES)
    _add_run_options(p)
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
