"""``rnn-harness``: the argument parser and ``main`` (exit codes 0, 1, 2, 3)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.check import check_seed
from harness.cli._commands import cmd_calibrate, cmd_check, cmd_list, cmd_record, cmd_report
from harness.cli._console import err
from harness.errors import HarnessError, UsageError
from harness.registry import Registry, default_registry
from harness.seeding import DEFAULT_THREADS, THREADS_ENV, override_threads

EXIT_CODES = """exit codes (with several ports the highest wins: 3 > 2 > 1 > 0):
  0  every port checked matches its golden
  1  regression: a run left its tolerance, or training diverged (NaN/inf)
  2  usage or input error: unknown port/profile, bad argument, missing, broken
     or locked golden, framework or device not available here, nothing
     checked (check --all with every port skipped: pass --allow-empty)
  3  a port crashed: its own code raised during training, killed its worker
     or ran past --timeout (a broken port, not a moved number)
  130/143  interrupted (Ctrl-C / SIGTERM): workers ended, finished ports named"""


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("ports", nargs="*", metavar="PORT",
                   help="port ids such as elman_sine/torch (see `rnn-harness list`)")
    p.add_argument("--all", action="store_true",
                   help="every registered port whose framework is installed here")
    p.add_argument("--profile", default="ci",
                   help="profile name from the tutorial's spec: 'ci' (short, default) or "
                   "'tutorial' (the article's full settings)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.add_argument("--golden-dir", type=Path, default=None,
                   help="root of the golden store (default: $RNN_HARNESS_GOLDEN, else the "
                   "golden-dir of [tool.rnn-harness] in the pyproject.toml of the project "
                   "that registers the port, else of the nearest one above this folder)")
    p.add_argument("--project", default=None, metavar="NAME",
                   help="with --all: only the ports this distribution (or [tool.rnn-harness] "
                   "project) registers (default: the nearest project's own ports, where it "
                   "registers any; `rnn-harness list` shows each port's project)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help=f"intra-op threads per run (default: the count the golden records, "
                   f"else {DEFAULT_THREADS}, the fastest measured for these models; also "
                   f"${THREADS_ENV}); recorded in the run's meta. Thread counts can change "
                   "results: a golden is checked at the count it was recorded with")


def _add_sweep_options(p: argparse.ArgumentParser) -> None:
    from harness.sweep import DEFAULT_JOB_TIMEOUT_S

    p.add_argument("--executor", choices=("local", "dask"), default=None,
                   help="where the runs train: local (a process pool here, one process per "
                   "core; the default for check, report and record --seeds) or dask "
                   "(dask.distributed; extra: dask)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="with --executor dask: an existing scheduler (default: start a "
                   "LocalCluster on loopback)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: one per core, at most one per run; "
                   "with --executor local, 0 trains in this process, and so does 1 for "
                   "check and report, with per-epoch progress bars)")
    p.add_argument("--timeout", type=float, default=DEFAULT_JOB_TIMEOUT_S, metavar="SECONDS",
                   help="stop a run on a worker (one port's check, one seed) that takes "
                   "longer, and report it as timed out: exit 3 (default "
                   f"{DEFAULT_JOB_TIMEOUT_S:g}, about 5x the slowest tutorial port; 0: no "
                   "limit). Runs trained in this process (--workers 0; 1, or a single "
                   "port, for check and report) have no limit")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="rnn-harness", formatter_class=fmt,
        description="Train RNN tutorial ports with every RNG seeded and compare their loss/"
        "perplexity trajectories against recorded goldens.",
        epilog="examples:\n  rnn-harness list\n  rnn-harness check --all --profile ci\n"
        "  rnn-harness record elman_sine/torch --profile ci\n\n" + EXIT_CODES,
        allow_abbrev=False)
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
                       "  rnn-harness record --all --profile ci --initial-only\n"
                       "  rnn-harness record --all --profile tutorial --segments-only\n"
                       "  rnn-harness record sin_cos/mxnet --seeds 8 --executor dask "
                       "--scheduler tcp://127.0.0.1:8786")
    _add_run_options(p)
    p.add_argument("--seed", type=int, default=None, help="seed (default: the spec's)")
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="record a seed envelope instead: per-epoch mean, std, min and max over "
                   "the spec's seed and the N-1 after it (envelope.csv/.json beside the golden)")
    p.add_argument("--no-batch", action="store_true",
                   help="with --seeds: one run per seed even where a seed-batched trainer exists")
    p.add_argument("--initial-only", action="store_true",
                   help="write only the initial weights (initial_params.npz/.json) an existing "
                   "golden was trained from, with its seed; its trajectory and meta stay as "
                   "they are")
    p.add_argument("--segments-only", action="store_true",
                   help="write only the checkpoint segments of an existing tutorial golden "
                   "(golden/<tutorial>/<port>/tutorial/segments/): its run is trained once more "
                   "with checkpoints at the spec's SegmentPlan epochs and must reproduce the "
                   "golden bit for bit; the golden's own files stay as they are")
    _add_sweep_options(p)
    p.set_defaults(func=cmd_record)
    p = sub.add_parser("check", help="train and compare against goldens (the CI gate)",
                       formatter_class=fmt,
                       description="Train each port and compare its per-epoch figures with "
                       "its golden under the spec's tolerances, then replay every checkpoint "
                       "segment of its tutorial golden (restored from the exact training state "
                       "and compared per epoch and per step), so the default ci gate covers the "
                       "whole tutorial run. Several ports train in parallel, one process per "
                       "core (--executor, --workers); output stays in registry order. Never "
                       "writes a golden; on a regression the run is saved as *.obtained.* "
                       "beside it.",
                       epilog="examples:\n  rnn-harness check --all --profile ci\n"
                       "  rnn-harness check --all --workers 1 --threads 2\n"
                       "  rnn-harness check elman_sine/mxnet --profile tutorial\n"
                       "  rnn-harness check elman_sine/torch --against elman_sine/mxnet\n"
                       "  rnn-harness check --all --envelope --executor dask\n\n"
                       + EXIT_CODES)
    _add_run_options(p)
    p.add_argument("--against", metavar="OTHER_PORT", default=None,
                   help="check against OTHER_PORT's golden instead (same tutorial, e.g. another "
                   "framework's port): train from its stored initial weights with its seed "
                   "and compare under the spec's cross-framework tolerances; OTHER_PORT's "
                   "framework need not be installed")
    p.add_argument("--no-segments", action="store_true",
                   help="skip the checkpoint segments (gate the profile's own run only)")
    p.add_argument("-x", "--fail-fast", action="store_true",
                   help="stop each port's check at its first failure: a run that fails "
                   "replays no segment, and the segments stop at the first that fails (the "
                   "same exit code, sooner; the later failures are not looked for)")
    p.add_argument("--envelope", action="store_true",
                   help="check against each port's seed envelope (recorded with record "
                   "--seeds): the golden seed's run against the per-epoch band (inside, or "
                   "the epochs it leaves it), and the envelope's seeds trained again, their "
                   "final figure and area against the recorded ones by a two-sided "
                   "Mann-Whitney U test (alpha 0.01 per port): 'same distribution (p = ...)' "
                   "or 'shifted by x (p = ...)'. Exit 1 only where the band or the test "
                   "fails; the single-seed golden is shown ('matches' or 'differs from "
                   "epoch N'), not gated: plain check gates it. A seed-batched twin trains "
                   "the seeds only where its first seed equals the port's run bit for bit, "
                   "else the port trains them all (said in a note). With --all, ports "
                   "without an envelope at the profile are skipped")
    p.add_argument("--seeds", type=int, default=None, metavar="K",
                   help="with --envelope: train only the envelope's first K seeds (default: "
                   "all N it records); fewer seeds detect only larger shifts")
    p.add_argument("--no-batch", action="store_true",
                   help="with --envelope: one run per seed even where a seed-batched trainer "
                   "exists")
    p.add_argument("--allow-empty", action="store_true",
                   help="exit 0 when nothing was checked (every port skipped: its framework "
                   "is not installed here); without it such a check exits 2")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="on a failure, print every epoch's obtained-vs-expected table of each "
                   "column that left its tolerance, and every failed segment (default: the "
                   "first divergence, the worst quantity and where to look)")
    _add_sweep_options(p)
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("calibrate", help="measure rounding noise vs a learning-rate change",
                       formatter_class=fmt,
                       description="Train each port's profile run three times: as specified, "
                       "with every initial weight nudged by one ulp (a proxy for another CPU's "
                       "rounding), and with the learning rate raised by --lr-change. With "
                       "--segments, replay the tutorial golden's checkpoint segments so instead "
                       "(restored weights nudged). Prints, per gated quantity (figures, epoch "
                       "observables, outputs; per epoch and per step for segments), the largest "
                       "difference of each against the tolerance the spec gives it, then "
                       "proposed tolerances as Python source to paste into the spec. A "
                       "quantity without noise under a zero tolerance is exact. Writes nothing.",
                       epilog="examples:\n  rnn-harness calibrate elman_sine/torch --profile ci\n"
                       "  rnn-harness calibrate elman_sine/torch --segments\n"
                       "  rnn-harness calibrate elman_sine/torch --profile ci --variants\n"
                       "  rnn-harness calibrate sin_cos/mxnet --profile ci --lr-change 0.01")
    _add_run_options(p)
    p.add_argument("--lr-change", type=float, default=0.001, metavar="FRACTION",
                   help="relative learning-rate change of the signal run (default 0.001: the "
                   "+0.1 %% the gate must catch)")
    p.add_argument("--lr-field", default="lr", metavar="NAME",
                   help="the config field that holds the learning rate (default: lr)")
    p.add_argument("--segments", action="store_true",
                   help="calibrate the tutorial golden's stored checkpoint segments (per "
                   "epoch and per step) instead of the --profile run")
    p.add_argument("--variants", action="store_true",
                   help="also train the run once per kernel variant of the port's framework "
                   "that this CPU can be forced into (ATEN_CPU_CAPABILITY, MKL_CBWR, "
                   "OPENBLAS_CORETYPE, oneDNN's and XLA's ISA limits; docs/machines.md), each "
                   "in a child process; its noise counts beside the 1-ulp noise")
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
    p.add_argument("--from-runs", type=Path, metavar="DIR", action="append",
                   help="build the report from runs saved with --save-runs, without training; "
                   "repeat to merge folders saved in several environments into one report")
    _add_sweep_options(p)
    p.set_defaults(func=cmd_report)
    from harness.cli._explain import cmd_explain  # explain's own module: no framework

    p = sub.add_parser("explain", help="name the factor (machine or code) behind a failing check",
                       formatter_class=fmt,
                       description="Replay PORT's prefix run (default profile ci) in child "
                       "processes: as this machine runs it, then with each factor the golden's "
                       "provenance records otherwise (threads, ATEN_CPU_CAPABILITY, MKL_CBWR, "
                       "OPENBLAS_CORETYPE, numpy SIMD, XLA flags) and its initial weights "
                       "switched, one at a time, to the golden's. Says which alone brings the run "
                       "back inside its tolerance, or that the code changed. Exit 0 when a factor "
                       "explains it or it passes, 1 when the code changed. Writes nothing.",
                       epilog="example:\n  rnn-harness explain elman_sine/torch")
    p.add_argument("port", metavar="PORT", help="a port id such as elman_sine/torch")
    p.add_argument("--profile", default="ci", help="profile to replay (default: ci)")
    p.add_argument("--golden-dir", type=Path, default=None,
                   help="root of the golden store (default as for check)")
    p.set_defaults(func=cmd_explain)
    for command in sub.choices.values():  # `--seed` must never be read as `--seeds`
        command.allow_abbrev = False
    return parser


def main(argv: Sequence[str] | None = None,
         registry_factory: Callable[[], Registry] = default_registry) -> int:
    from harness.cli._console import report_interrupt, stop_on_sigterm

    args = build_parser().parse_args(argv)
    try:
        with stop_on_sigterm():  # a CI cancel (SIGTERM) stops as Ctrl-C does
            check_arguments(args)
            override_threads(getattr(args, "threads", None))
            return int(args.func(args, registry_factory()))
    except HarnessError as exc:
        err.print(str(exc), markup=False)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM; a sweep has ended its workers
        return report_interrupt(exc, getattr(args, "command", None))


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse numbers no command can use, naming the valid range, before anything runs."""
    from harness.sweep import check_timeout

    check_seed(getattr(args, "seed", None), "--seed")
    check_timeout(getattr(args, "timeout", None))
    if getattr(args, "command", None) == "check" and not args.envelope and (
            args.seeds is not None or args.no_batch):
        raise UsageError("--seeds and --no-batch apply to check --envelope only.",
                         context={"--seeds": args.seeds, "--no-batch": args.no_batch},
                         fix="add --envelope, or drop them.")
    workers = getattr(args, "workers", None)
    if workers == 0 and getattr(args, "executor", None) == "dask":
        raise UsageError("--workers 0 (train in this process) applies to --executor local; a "
                         "Dask cluster needs 1 worker or more.",
                         context={"--workers": workers, "--executor": "dask"},
                         fix="pass --workers 1 or more, or leave it out for one per core.")
    if workers is not None and workers < 0:
        raise UsageError(f"--workers {workers} is out of range: it takes 0 or more.",
                         context={"--workers": workers, "valid range": "0 (train in this "
                                  "process, --executor local) or more"},
                         fix="pass --workers 1 or more, or leave it out for one per core.")
