"""Many ports at once for ``check`` and ``report``: each port is one job on the executor
(the local process pool by default, one process per core and one thread each; Dask with
``--executor dask``), and its output is printed in registry order as soon as it and every
port before it are done, so the log reads as a sequential run's. ``--workers 1`` runs the
ports one after another in this process, with per-epoch progress bars.

A port's check is ``harness.check``'s (its profile's run, then its checkpoint segments, each
at the thread count its golden records; ``--threads`` overrides), run in the worker.
"""

from __future__ import annotations

import argparse
import csv
import math
import textwrap
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from harness.check import (
    SEGMENT_PROFILE,
    CheckResult,
    GateRequest,
    SegmentVerdict,
    Verdict,
    check_request,
    check_segments,
    divergence_notes,
    golden_threads,
    resolve,
    segments_summary,
)
from harness.cli._console import err, sweep_progress
from harness.compare import Worst, divergence_ratio, worst_of, worst_ratio
from harness.errors import (
    EXIT_REGRESSION,
    ConfigChangedError,
    CorpusUnavailableError,
    DivergenceError,
    HarnessError,
)
from harness.golden import GoldenStore
from harness.interface import Trajectory
from harness.registry import Registry
from harness.runner import ProgressFn
from harness.seeding import override_threads, use_threads

if TYPE_CHECKING:
    from harness.report import RunSet
    from harness.sweep import Executor, Job, Task

Row = tuple[str, ...]
#: label -> a progress bar (as ``_console.progress_bar``), or nothing in a worker.
Bars = Callable[[str], AbstractContextManager[ProgressFn | None]]

#: The check table's columns: "worst / tol" is the gated quantity farthest from the golden
#: in units of its tolerance (above 1: off), named; a failing status names its epoch.
COLUMNS = ("port", "profile", "status", "epochs", "worst / tol", "s/epoch")
#: Columns after "port" and "profile" in the check table.
WIDTH = len(COLUMNS) - 2
CAPTION = "worst / tol: |error| / tolerance, above 1 is off"


def check_table(title: str) -> Table:
    """The check table. Port ids never wrap or truncate, whatever the terminal's width
    (the other columns fold first)."""
    table = Table(title=title, caption=CAPTION)
    table.add_column(COLUMNS[0], no_wrap=True, min_width=len(COLUMNS[0]))
    for name in COLUMNS[1:]:
        table.add_column(name, overflow="fold")
    return table


def _no_bar(label: str) -> AbstractContextManager[ProgressFn | None]:
    return nullcontext(None)


@dataclass(frozen=True)
class PortCheck:
    """What checking one port prints (table rows, messages for stderr), its errors (port,
    detail: printed once below the table, the row holding the short reason) and its exit
    code: plain strings, built in the worker that trained the port and sent back."""

    rows: tuple[Row, ...]
    messages: tuple[str, ...]
    code: int
    errors: tuple[tuple[str, str], ...] = ()
    #: False where the port could not run here for want of its data (skipped, not failed)
    checked: bool = True


#: The longest reason an ERROR row shows (the whole message is printed below the table).
SHORT_REASON = 60


def error_row(port_id: str, label: str, status: str, reason: str) -> Row:
    """A row whose status cell is ``status`` over the short reason (its second line)."""
    short = textwrap.shorten(" ".join(reason.split()), SHORT_REASON, placeholder="...")
    return (port_id, label, f"{status}\n{short}", *[""] * (WIDTH - 1))


#: Starts the detail of a port skipped for want of its data (printed as "skipped", not
#: "ERROR", below the table).
SKIPPED = "skipped: "


def error_detail(exc: HarnessError) -> str:
    """``exc``'s message without its port and profile lines, so the same failure of
    several ports (a missing corpus) reads the same and is printed once for all of them."""
    lines = [exc.summary, *(f"  {k}: {v}" for k, v in exc.context.items() if v is not None)]
    if exc.details:
        lines.append(exc.details.rstrip())
    return "\n".join([*lines, f"Fix: {exc.fix}"])


def _failed(exc: HarnessError, req: GateRequest, label: str, rows: list[Row],
            messages: list[str], errors: list[tuple[str, str]]) -> int:
    """Record ``exc`` for the table: a divergence or a changed config keeps its message in
    the stream; any other error gets its short reason in the row and its detail below the
    table."""
    if isinstance(exc, DivergenceError):  # NaN, inf or an overflow: the numbers moved
        messages.append(str(exc))
        epoch = exc.context.get("epoch")
        status = "DIVERGED" if epoch is None else f"DIVERGED\nat epoch {epoch}"
        rows.append((req.port_id, label, status, *[""] * (WIDTH - 1)))
    elif isinstance(exc, ConfigChangedError):  # the profile moved: a regression, not input
        messages.append(str(exc))
        rows.append(error_row(req.port_id, label, "REGRESSION", exc.summary))
    elif isinstance(exc, CorpusUnavailableError):
        # no data here and none configured: like a missing framework, not a failure
        rows.append(error_row(req.port_id, label, "skipped", f"no corpus: {exc.summary}"))
        errors.append((req.port_id, SKIPPED + error_detail(exc)))
        return 0
    else:
        rows.append(error_row(req.port_id, label, "ERROR", exc.summary))
        errors.append((req.port_id, error_detail(exc)))
    return exc.exit_code


@dataclass(frozen=True)
class CheckOptions:
    """What a worker needs besides the job to rebuild its port's request."""

    golden_dir: Path | None
    against: str | None
    segments: bool
    threads: int | None
    verbose: bool = False
    fail_fast: bool = False


def check_port(req: GateRequest, *, segments: bool, bars: Bars = _no_bar,
               verbose: bool = False, fail_fast: bool = False) -> PortCheck:
    """``harness.check``'s verdict for one port (its run, then its segments, each under
    its own progress bar), as table rows and messages (``verbose``: every epoch's table
    and every failed segment)."""
    against = f" against {req.against}" if req.against else ""
    with bars(f"check {req.port_id}{against} ({req.profile})") as bar:
        result = check_request(req, segments=False, progress=bar)
    if segments and not (fail_fast and not result.run_passed):
        with bars(f"segments {req.port_id}") as bar:
            result = check_segments(result, on_segment=_segment_progress(bar),
                                    fail_fast=fail_fast)
    return format_check(result, verbose=verbose)


def _segment_progress(bar: ProgressFn | None) -> Callable[[SegmentVerdict], None]:
    done: list[SegmentVerdict] = []

    def advance(v: SegmentVerdict) -> None:
        done.append(v)
        if bar is not None:
            bar(len(done), 0, {"from epoch": v.start})
    return advance


def format_check(result: CheckResult, *, verbose: bool = False) -> PortCheck:
    """A ``CheckResult`` as the check table's rows, messages and errors: a failure's
    verdict, first divergence and where to look (``verbose``: every epoch's table and every
    failed segment)."""
    req = result.request
    rows: list[Row] = []
    messages: list[str] = []
    errors: list[tuple[str, str]] = []
    code = 0
    run_error = result.error("run")
    if result.verdict is not None:
        code = _verdict_row(result.verdict, rows, messages, verbose)
    elif run_error is not None:
        code = _failed(run_error, req, req.profile, rows, messages, errors)
    if result.skipped is not None:
        return PortCheck(tuple(rows), tuple(messages), 0, tuple(errors), checked=False)
    seg_error = result.error("segments")
    label = f"{SEGMENT_PROFILE} segments"
    if seg_error is not None:
        code = max(code, _failed(seg_error, req, label, rows, messages, errors))
    elif result.segments is not None:
        code = max(code, _segments_row(result, rows, messages, verbose))
    return PortCheck(tuple(rows), tuple(messages), code, tuple(errors))


def _verdict_row(verdict: Verdict, rows: list[Row], messages: list[str],
                 verbose: bool = False) -> int:
    from harness.report._messages import regression_message, worst_text

    comp, obtained, req = verdict.comparison, verdict.obtained, verdict.request
    # a regression message carries the divergence notes itself: print them once
    shown = set(divergence_notes(comp)) if not comp.passed else set()
    messages += [f"note: {note}" for note in verdict.notes if note not in shown]
    worst = worst_ratio(comp, obtained.outputs, verdict.expected.outputs)
    if not comp.passed:
        messages.append(regression_message(comp, verdict.golden_path, verdict.obtained_path,
                                           verbose=verbose, worst=worst))
    gated = min((m.gated_epochs for m in comp.metrics), default=obtained.num_epochs)
    epochs = str(obtained.num_epochs) + (f" ({gated} gated)" if gated < obtained.num_epochs
                                         else "")
    per_epoch = obtained.timing["wall_s"].mean() if obtained.num_epochs else 0.0
    figure = worst_text(worst) if comp.length_ok else (
        f"epochs {comp.obtained_epochs} vs {comp.expected_epochs}")
    rows.append((req.port_id, req.profile, _status(comp.passed, comp.first_divergent_epoch),
                 epochs, figure, f"{per_epoch:.3f}"))
    return 0 if comp.passed else EXIT_REGRESSION


def _status(passed: bool, epoch: int | None) -> str:
    """pass, or REGRESSION over the epoch it left its tolerance (an output alone: none)."""
    if passed:
        return "pass"
    return "REGRESSION" if epoch is None else f"REGRESSION\nfrom epoch {epoch}"


def _segments_figure(result: CheckResult) -> str:
    """The segments' "worst / tol": the failed segments' largest ratio where each first
    left its tolerance, naming the quantity; where every segment passed, 0 (every replay
    matched exactly) or at most 1."""
    from harness.report._messages import worst_text

    plan = result.request.spec.segments
    found = [Worst(divergence_ratio(d, plan.step_tolerances if d.step is not None
                                    else plan.epoch_tolerances),
                   ("step " if d.step is not None else "") + d.quantity, d.epoch)
             for v in result.failed_segments if (d := v.divergence) is not None
             and plan is not None]
    if found:
        return worst_text(worst_of(found))
    rels = [r for v in result.segments or () for r in v.max_rel.values()]
    if any(math.isnan(r) for r in rels):
        return "NaN"
    return "0" if not any(rels) else "<= 1"


def _segments_row(result: CheckResult, rows: list[Row], messages: list[str],
                  verbose: bool = False) -> int:
    """The segments' table row; the failed segments' message (the first one's first
    divergence; ``verbose``: every one's). Returns the exit code."""
    from harness.report._messages import segments_message

    req, verdicts = result.request, result.segments or ()
    failed = result.failed_segments
    if failed:
        shown = () if result.verdict is None else result.verdict.notes  # printed with the run
        messages.append(segments_message(result, verbose=verbose, shown=shown))
    first = None if not failed else failed[0].divergence
    epochs = f"{len(verdicts)} x {verdicts[0].length}" if verdicts else "0"
    seconds = sum(v.seconds for v in verdicts) / max(len(verdicts), 1)
    rows.append((req.port_id, f"{SEGMENT_PROFILE} segments",
                 _status(not failed, None if first is None else first.epoch), epochs,
                 _segments_figure(result), f"{seconds:.2f}/seg"))
    return EXIT_REGRESSION if failed else 0


def check_job(job: Job, registry: Registry | None, options: CheckOptions) -> PortCheck:
    """The worker's task: rebuild the job's request (validated in the parent) and check it."""
    override_threads(options.threads)
    req = resolve(job.port_id, job.profile, device=job.device, golden_dir=options.golden_dir,
                  registry=registry, against=options.against)
    return check_port(req, segments=options.segments, verbose=options.verbose,
                      fail_fast=options.fail_fast)


def port_executor(args: argparse.Namespace, ports: int) -> Executor | None:
    """The executor ``--executor``/``--scheduler``/``--workers`` name for ``ports`` ports,
    or None where they run in this process: one port, or ``--workers`` 0 or 1 locally."""
    from harness.sweep import LocalExecutor, default_workers, make_executor

    executor = make_executor(args.executor or "local", scheduler=args.scheduler,
                             workers=args.workers, threads=args.threads,
                             timeout=args.timeout)
    if isinstance(executor, LocalExecutor):
        workers = executor.max_workers
        if (default_workers(ports) if workers is None else workers) <= 1:
            return None
    return executor


def run_in_order(executor: Executor, jobs: Sequence[Job], registry: Registry, task: Task,
                 emit: Callable[[Job, Any], None], label: str,
                 schedule: Sequence[Job] | None = None) -> None:
    """Run ``task`` for every job on ``executor`` (started in ``schedule``'s order, by
    default the jobs'); ``emit`` each outcome (the task's result or a ``JobFailure``) in
    job order, each as soon as the jobs before it are in."""
    from harness.sweep import SweepInterrupted

    outcomes: dict[Job, Any] = {}
    order = list(jobs)

    with sweep_progress(label, total=len(order), print_failures=False) as bar:
        def arrived(job: Job, outcome: Any) -> None:
            bar(job, outcome)
            outcomes[job] = outcome
            while order and order[0] in outcomes:
                first = order.pop(0)
                emit(first, outcomes.pop(first))

        try:
            executor.run(list(schedule or jobs), registry, arrived, task=task)
        except SweepInterrupted as exc:  # name the ports in the order their rows print
            exc.result.jobs = tuple(jobs)
            raise


def expected_seconds(req: GateRequest, segments: bool) -> float:
    """About how long ``req``'s check takes, from its goldens' own timing (the ``wall_s``
    column of the profile's run), scaled by the epochs its segments replay; 0 where unknown.
    Only to start the longest checks first, so that no worker is left with one at the end."""
    plan = req.spec.segments
    replayed = 0
    try:
        ci = _wall_seconds(req.golden_path / "trajectory.csv")
        if segments and plan is not None and plan.step_limit_for(req.port_id) is None:
            folder = replace(req, profile=SEGMENT_PROFILE).golden_path / "segments"
            if folder.is_dir():
                replayed = plan.length * sum(1 for p in folder.iterdir() if p.is_dir())
    except (OSError, ValueError, KeyError):  # unreadable: the check itself will say why
        return 0.0
    return sum(ci) * (1 + replayed / max(len(ci), 1))


def _wall_seconds(path: Path) -> list[float]:
    with path.open(newline="", encoding="utf-8") as f:
        return [float(row["wall_s"]) for row in csv.DictReader(f)]


def check_ports(args: argparse.Namespace, registry: Registry, requests: Sequence[GateRequest],
                add_row: Callable[..., None], bars: Bars,
                add_error: Callable[[str, str], None]) -> tuple[int, int]:
    """Check every request (in workers, or here with ``bars``); print each port's messages,
    add its rows and hand ``add_error`` its errors, in request order. Returns the worst
    exit code and how many ports were checked (not skipped for want of their data)."""
    from harness.sweep import Job

    worst = checked = 0

    def emit(check: PortCheck) -> None:
        nonlocal worst, checked
        for message in check.messages:
            err.print(message, markup=False)
        for row in check.rows:
            add_row(*row)
        for port_id, detail in check.errors:
            add_error(port_id, detail)
        worst = max(worst, check.code)
        checked += check.checked

    segments = args.against is None and not args.no_segments
    verbose = bool(getattr(args, "verbose", False))
    fail_fast = bool(getattr(args, "fail_fast", False))
    executor = port_executor(args, len(requests))
    if executor is None:
        for req in requests:
            emit(check_port(req, segments=segments, bars=bars, verbose=verbose,
                            fail_fast=fail_fast))
        return worst, checked
    options = CheckOptions(args.golden_dir, args.against, segments, args.threads, verbose,
                           fail_fast)
    by_job = {Job(r.port_id, r.profile, None, r.device): r for r in requests}
    longest_first = sorted(by_job, key=lambda job: -expected_seconds(by_job[job], segments))
    run_in_order(executor, list(by_job), registry, partial(check_job, options=options),
                 lambda job, outcome: emit(_as_check(by_job[job], outcome)),
                 f"check {len(by_job)} ports ({args.profile}, {executor.name})",
                 schedule=longest_first)
    return worst, checked


def _as_check(req: GateRequest, outcome: Any) -> PortCheck:
    """A worker's PortCheck, or an ERROR row for a job that returned none (its worker
    died, or the task raised outside the gate)."""
    if isinstance(outcome, PortCheck):
        return outcome
    reason = outcome.message.partition("\n")[0] or outcome.error
    return PortCheck((error_row(req.port_id, req.profile, "ERROR", reason),), (),
                     max(outcome.exit_code, 1),
                     ((req.port_id, f"{outcome.error}: {outcome.message}"),))


@dataclass(frozen=True)
class ReportOptions:
    """What a report worker needs besides the job."""

    profile: str
    devices: tuple[str, ...]
    golden_dir: Path
    pairs: tuple[tuple[str, str], ...]
    threads: int | None


def collect_port(port_id: str, registry: Registry, options: ReportOptions,
                 progress: Callable[[str], Any] | None = None) -> RunSet:
    """The report's runs of one port (on every device, and from its reference port's
    weights where it follows one), at the thread count its golden records."""
    from harness.report import collect_runs

    store = GoldenStore(options.golden_dir)
    try:
        use_threads(golden_threads(resolve(port_id, options.profile, registry=registry,
                                           golden_dir=store.root)))
    except HarnessError:  # collect_runs reports the same error as the run's failure
        use_threads(None)
    pairs = [pair for pair in options.pairs if pair[1] == port_id]
    runs = collect_runs([port_id], options.profile, options.devices, registry=registry,
                        golden=store, pairs=pairs, progress=progress)
    for traj in runs.runs:  # the same segment replay as `check`: the report shows its verdict
        if traj.port_id == port_id:
            traj.meta["segments_check"] = _segments_of(traj, registry, store)
    return runs


def _segments_of(traj: Trajectory, registry: Registry, store: GoldenStore
                 ) -> dict[str, object] | None:
    """``harness.check``'s segment verdict for ``traj``'s port and device (None where its
    tutorial plans no segments)."""
    try:
        req = resolve(traj.port_id, traj.profile, device=str(traj.meta.get("device", "cpu")),
                      golden_dir=store.root, registry=registry)
    except HarnessError:
        return None
    return segments_summary(check_segments(CheckResult(req)))


def report_job(job: Job, registry: Registry | None, options: ReportOptions) -> RunSet:
    """The report worker's task."""
    from harness.registry import default_registry

    override_threads(options.threads)
    return collect_port(job.port_id, registry or default_registry(), options)


def collect_ports(args: argparse.Namespace, registry: Registry, ports: Sequence[str],
                  store: GoldenStore, progress: Callable[[str], Any]) -> RunSet:
    """Every port's report runs (in workers, or here with ``progress``), merged in registry
    order; a worker that died becomes the port's failure on every device."""
    from harness.report import RunFailure, RunSet, cross_pairs, merge_runs
    from harness.sweep import Job, JobFailure

    options = ReportOptions(args.profile, tuple(args.device or ["cpu"]), store.root,
                            tuple(cross_pairs(registry, ports)), args.threads)
    executor = port_executor(args, len(ports))
    sets: list[RunSet] = [RunSet(args.profile)]
    if executor is None:
        sets += [collect_port(p, registry, options, progress) for p in ports]
        return merge_runs(sets)

    def emit(job: Job, outcome: Any) -> None:
        if isinstance(outcome, JobFailure):
            err.print(f"{job.port_id}: {outcome.error}: {outcome.message}", markup=False)
            outcome = RunSet(args.profile, failures=[
                RunFailure(job.port_id, device, "run", outcome.message, error=outcome.error)
                for device in options.devices])
        sets.append(outcome)

    run_in_order(executor, [Job(p, args.profile) for p in ports], registry,
                 partial(report_job, options=options), emit,
                 f"report {len(ports)} ports ({args.profile}, {executor.name})")
    return merge_runs(sets)
