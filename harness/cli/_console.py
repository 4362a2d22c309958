"""Where the CLI prints (tables on stdout, messages and progress bars on stderr), and how
it stops on Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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

from harness.runner import ProgressFn

if TYPE_CHECKING:
    from types import FrameType

    from harness.sweep import Job, ResultFn

# Wide enough for the tables when output goes to a file or CI log (rich assumes 80 there),
# unless COLUMNS says how wide (rich reads it where no width is given).
# No markup anywhere: what the CLI prints comes from data (port ids, paths, messages naming
# an extra like rnn-harness[torch]), and rich would eat anything in square brackets.
def _width(stream: object) -> int | None:
    tty = getattr(stream, "isatty", lambda: False)()
    return None if tty or os.environ.get("COLUMNS", "").isdigit() else 160


out = Console(highlight=False, markup=False, width=_width(sys.stdout))
err = Console(stderr=True, highlight=False, markup=False, width=_width(sys.stderr))


def progress_bar_columns() -> tuple[ProgressColumn, ...]:
    return (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[last]}", markup=False), TimeElapsedColumn())


#: Where stderr is not a terminal (a CI log, a file), a bar draws nothing; progress is
#: printed as plain lines instead: a run every this many percent of its epochs, a sweep
#: every job.
LOG_EVERY_PERCENT = 10


@contextmanager
def progress_bar(label: str) -> Iterator[ProgressFn]:
    """A transient rich progress bar on stderr, fed by the runner's per-epoch callback; in a
    log, a line every ``LOG_EVERY_PERCENT`` % of the epochs."""
    started = time.monotonic()
    with Progress(*progress_bar_columns(), console=err, transient=True) as bar:
        task = bar.add_task(label, total=None, last="")
        logged = [0]

        def update(done: int, total: int, metrics: object) -> None:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in dict(metrics).items())  # type: ignore[call-overload]
            bar.update(task, completed=done, total=total or None, last=shown)
            if not err.is_terminal and total and done < total:
                step = done * 100 // total // LOG_EVERY_PERCENT
                if step > logged[0]:
                    logged[0] = step
                    err.print(f"progress: {label}: epoch {done}/{total}, {shown} "
                              f"({time.monotonic() - started:.0f} s)")

        yield update


@contextmanager
def logged_progress_bar(label: str) -> Iterator[ProgressFn]:
    """``progress_bar``, then a ``done`` line that stays in the log."""
    with progress_bar(label) as bar:
        yield bar
    err.print(f"done {label}")


@contextmanager
def sweep_progress(label: str, *, total: int | None = None,
                   print_failures: bool = True) -> Iterator[ResultFn]:
    """A progress bar over a sweep's jobs; each failed job is printed as it arrives
    (unless the caller prints outcomes itself)."""
    from harness.sweep import JobFailure

    started = time.monotonic()
    with Progress(*progress_bar_columns(), console=err, transient=True) as bar:
        task = bar.add_task(label, total=total, last="")
        done = [0]

        def update(job: Job, outcome: object) -> None:
            done[0] += 1
            failed = isinstance(outcome, JobFailure)
            if print_failures and isinstance(outcome, JobFailure):
                err.print(f"failed: {job.label}: {outcome.message}", markup=False)
            bar.update(task, advance=1, last=job.label)
            if not err.is_terminal:
                count = f"{done[0]}/{total}" if total is not None else f"job {done[0]}"
                err.print(f"progress: {label}: {count} {job.label} "
                          f"{'failed' if failed else 'done'} "
                          f"({time.monotonic() - started:.0f} s)")

        yield update


class Terminated(KeyboardInterrupt):
    """SIGTERM (what a CI cancel sends), raised where Ctrl-C raises KeyboardInterrupt, so
    the same cleanup runs: a sweep ends its workers and the CLI says what finished."""

    signum = signal.SIGTERM


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Within: SIGTERM raises ``Terminated`` in the main thread, as Ctrl-C raises
    KeyboardInterrupt. The previous handler is restored after; off the main thread (where
    Python cannot handle signals) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


#: What an interrupted command did to the goldens, by command.
INTERRUPTED_GOLDENS = {
    "record": "A golden not reported as recorded above is unchanged: its new files are "
    "swapped in whole or not at all.",
}


def report_interrupt(exc: KeyboardInterrupt, command: str | None) -> int:
    """Say which signal stopped the command and, for a sweep, which of its runs finished;
    return the shell's exit code for it (128 + the signal: 130 for Ctrl-C, 143 for
    SIGTERM)."""
    from harness.sweep import SweepInterrupted

    signum = int(getattr(exc, "signum", signal.SIGINT))
    lines = [f"Interrupted ({signal.Signals(signum).name}): stopped"
             + ("; every worker process was ended." if isinstance(exc, SweepInterrupted)
                else ".")]
    if isinstance(exc, SweepInterrupted):
        lines += [f"  finished: {_job_names(exc.finished)}",
                  f"  not finished: {_job_names(exc.unfinished)}"]
    lines.append(INTERRUPTED_GOLDENS.get(command or "", "No golden was changed."))
    err.print("\n".join(lines), markup=False)
    return 128 + signum


def _job_names(jobs: Sequence[Job]) -> str:
    names = [j.port_id if j.seed is None else f"{j.port_id} (seed {j.seed})" for j in jobs]
    return ", ".join(names) or "none"
