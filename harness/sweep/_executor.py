"""Executors: run a sweep of jobs (port x profile x seed x device) locally (worker
processes: ``_pool``) or on Dask (``_dask``).

Every executor returns the same ``SweepResult``: a Trajectory per finished job (or what
another ``task`` returns, e.g. a port's gate verdict) and a ``JobFailure`` per job that
failed, so a crash, a dead worker or a timeout never hides a finished run; an interrupt
raises ``SweepInterrupted`` holding what finished.
"""

from __future__ import annotations

import collections
import contextlib
import os
import pickle
import signal
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.errors import EXIT_PORT_CRASH, HarnessError, SweepFailedError, UsageError
from harness.interface import Trajectory
from harness.registry import Registry, default_registry
from harness.runner import run_port
from harness.seeding import DEFAULT_THREADS, THREADS_ENV, thread_env

#: Worker processes run the thread policy's count each (one): the sweep's parallelism is
#: across processes, and every worker (local pool or Dask) computes with the same thread
#: counts, so the two executors give bitwise the same trajectories. Set before a worker
#: imports a framework (each run sets its count again: ``harness.seeding.use_threads``).
WORKER_ENV = thread_env(DEFAULT_THREADS)

EXECUTORS = ("local", "dask")

#: Seconds one job may run before it is stopped and reported as timed out (``--timeout``;
#: 0 or None: no limit). 30 min is about 5x the slowest single job measured, a whole
#: ``tutorial`` check of char_rnn/mxnet-scratch (6.2 min on a 2-core VM), so a loaded CI
#: runner does not trip it, and well inside CI job limits (GitLab's default 1 h, GitHub's
#: 6 h): a hung port fails as its own row while the job can still report. ``ci`` ports
#: take under a minute each, so a CI running only ``--profile ci`` may pass far less.
DEFAULT_JOB_TIMEOUT_S = 1800.0
#: Seconds ``--scheduler`` has to answer (Dask's own default is 30 s): a running scheduler
#: answers in well under a second, even across a network.
SCHEDULER_CONNECT_TIMEOUT_S = 5.0


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: ``taskset``, a container's
    cpuset), which ``os.cpu_count()`` overstates."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # no affinity API (macOS, Windows)
        return os.cpu_count() or 1


def default_workers(jobs: int) -> int:
    """One worker per usable core, at most one per job."""
    return max(1, min(usable_cores(), jobs))


@dataclass(frozen=True)
class Job:
    """One training run of a sweep. ``seed=None`` means the spec's default seed."""

    port_id: str
    profile: str
    seed: int | None = None
    device: str = "cpu"

    @property
    def label(self) -> str:
        seed = "default seed" if self.seed is None else f"seed {self.seed}"
        return f"{self.port_id} ({self.profile}, {seed}, {self.device})"


@dataclass(frozen=True)
class JobFailure:
    """Why a job produced no trajectory. ``error``: the exception's type name, or
    ``WorkerDied`` (the process running it was lost: ``worker_died``) or ``Timeout``
    (stopped after ``--timeout``); ``exit_code``: the CLI's code for it (3 for those two)."""

    job: Job
    error: str
    message: str
    worker_died: bool = False
    exit_code: int = 1


Outcome = Trajectory | JobFailure
#: Called in the parent as each job finishes (in completion order), with what the task
#: returned (a Trajectory for the default task) or the job's ``JobFailure``.
ResultFn = Callable[[Job, Any], None]
#: What a worker runs for one job: ``run_job`` (train, return the Trajectory) unless a
#: caller passes another module-level function (or a ``functools.partial`` of one), so
#: that it pickles to a worker process.
Task = Callable[[Job, Registry | None], Any]


@dataclass
class SweepResult:
    """Outcomes of a sweep, keyed by job; ``jobs`` keeps the submission order."""

    jobs: tuple[Job, ...]
    trajectories: dict[Job, Trajectory] = field(default_factory=dict)
    failures: dict[Job, JobFailure] = field(default_factory=dict)
    #: What a task other than ``run_job`` returned, per job.
    results: dict[Job, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        done = len(self.trajectories) + len(self.results)
        return not self.failures and done == len(set(self.jobs))

    def add(self, job: Job, outcome: Any) -> None:
        if isinstance(outcome, JobFailure):
            self.failures[job] = outcome
        elif isinstance(outcome, Trajectory):
            self.trajectories[job] = outcome
        else:
            self.results[job] = outcome

    def has(self, job: Job) -> bool:
        """Whether ``job`` finished (with a result or a failure)."""
        return any(job in found for found in (self.trajectories, self.results, self.failures))

    def outcome(self, job: Job) -> Any:
        """The job's Trajectory, other task result or JobFailure."""
        for found in (self.trajectories, self.results, self.failures):
            if job in found:
                return found[job]
        raise KeyError(job)

    def ordered(self) -> list[tuple[Job, Any]]:
        """Every job with its outcome, in submission order."""
        return [(j, self.outcome(j)) for j in self.jobs]


class Executor(Protocol):
    """Runs jobs and reports each outcome as it arrives."""

    name: str

    def run(self, jobs: Sequence[Job], registry: Registry | None = None,
            on_result: ResultFn | None = None, *, task: Task | None = None) -> SweepResult: ...


def run_job(job: Job, registry: Registry | None = None) -> Outcome:
    """Run one job; a harness error or a port crash becomes a ``JobFailure`` (picklable)."""
    return _attempt(_train, job, registry)


def _train(job: Job, registry: Registry | None) -> Trajectory:
    return run_port(job.port_id, job.profile, seed=job.seed, device=job.device,
                    registry=registry or default_registry())


def _attempt(task: Task, job: Job, registry: Registry | None) -> Any:
    """``task(job, registry)``, with a harness error or any other exception returned as a
    ``JobFailure`` (picklable): one job's failure never stops the sweep."""
    try:
        return task(job, registry)
    except HarnessError as exc:
        return JobFailure(job, type(exc).__name__, str(exc), exit_code=exc.exit_code)
    except Exception as exc:  # a bug outside the port's training loop: keep the trace
        return JobFailure(job, type(exc).__name__, "".join(traceback.format_exception(exc)))


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by Ctrl-C (SIGINT) or SIGTERM: every worker it started was ended
    before this was raised; ``result`` holds the jobs that finished before the signal."""

    def __init__(self, result: SweepResult, signum: int = signal.SIGINT) -> None:
        self.result = result
        self.signum = signum
        super().__init__(f"{signal.Signals(signum).name}: {len(self.finished)} of "
                         f"{len(result.jobs)} jobs finished")

    @property
    def finished(self) -> list[Job]:
        return [job for job in self.result.jobs if self.result.has(job)]

    @property
    def unfinished(self) -> list[Job]:
        return [job for job in self.result.jobs if not self.result.has(job)]


def _exit_detail(exitcode: int | None) -> str:
    """How a worker process ended: ``SIGKILL`` (a signal), ``exit code 1``."""
    if exitcode is None:
        return "no exit status"
    if exitcode >= 0:
        return f"exit code {exitcode}"
    try:
        return signal.Signals(-exitcode).name
    except ValueError:
        return f"signal {-exitcode}"


def _died(job: Job, where: str, detail: str, cause: str = "") -> JobFailure:
    cause = cause or (" (what the out-of-memory killer sends)" if detail == "SIGKILL" else "")
    return JobFailure(job, "WorkerDied", f"worker died ({detail}) running {job.label}: the "
                      f"{where} worker process ended{cause}, so this run has no result; the "
                      "other runs are unaffected. Rerun it alone (`rnn-harness check "
                      f"{job.port_id} --profile {job.profile}`) to see whether it crashes "
                      "its process (segfault, out of memory, os._exit).",
                      worker_died=True, exit_code=EXIT_PORT_CRASH)


def _timed_out(job: Job, seconds: float, what: str) -> JobFailure:
    return JobFailure(job, "Timeout", f"timed out after {seconds:g} s (--timeout): "
                      f"{job.label} {what}. If it is only slow here, pass a larger --timeout "
                      "(0: no limit); if it hangs, run it alone (`rnn-harness check "
                      f"{job.port_id} --profile {job.profile} --workers 1`): its per-epoch "
                      "progress shows where it stops.",
                      exit_code=EXIT_PORT_CRASH)


class LocalExecutor:
    """A pool of spawned processes on this machine (``max_workers=0``: run in this process).

    Each worker holds one job at a time, so a worker that dies (a segfault, the OOM killer)
    or runs a job past ``timeout`` seconds fails exactly that job, as ``WorkerDied`` or
    ``Timeout`` (exit code 3); a fresh worker takes the next job. Ctrl-C or SIGTERM ends
    every worker within about a second and raises ``SweepInterrupted``; a worker also dies
    with this process if it is killed outright (``kill -9``).
    """

    name = "local"

    def __init__(self, max_workers: int | None = None, *,
                 env: Mapping[str, str] | None = None,
                 timeout: float | None = DEFAULT_JOB_TIMEOUT_S) -> None:
        if max_workers is not None and max_workers < 0:
            raise UsageError("max_workers must be 0 (in-process) or more.",
                             context={"argument": "max_workers", "value": max_workers},
                             fix="pass --workers 0 or a positive number.")
        self.max_workers = max_workers
        self.env = dict(WORKER_ENV if env is None else env)
        self.timeout = check_timeout(timeout)

    def run(self, jobs: Sequence[Job], registry: Registry | None = None,
            on_result: ResultFn | None = None, *, task: Task | None = None) -> SweepResult:
        result = SweepResult(tuple(jobs))
        report = _reporter(result, on_result)
        task = task or _train
        try:
            if self.max_workers == 0:  # no timeout here: nothing could stop the job
                for job in jobs:
                    report(job, _attempt(task, job, registry))
            else:
                workers = self.max_workers or default_workers(len(jobs))
                self._parallel(list(jobs), registry, workers, report, task)
        except KeyboardInterrupt as exc:  # the workers are ended already
            raise SweepInterrupted(result, getattr(exc, "signum", signal.SIGINT)) from exc
        return result

    def _parallel(self, jobs: list[Job], registry: Registry | None, workers: int,
                  report: ResultFn, task: Task) -> None:
        from harness.sweep._pool import Pool

        try:
            payload = pickle.dumps((task, registry))
        except Exception as exc:
            for job in jobs:
                report(job, JobFailure(job, type(exc).__name__, "the task or registry does "
                                       f"not pickle to a worker process: {exc}"))
            return
        pending = collections.deque(jobs)
        with Pool(self.env, workers, self.timeout) as pool:
            while pending or pool.busy:
                while pending and pool.free:
                    job = pending.popleft()
                    if (failed := pool.submit(job, payload)) is not None:
                        report(*failed)
                for job, outcome in pool.wait():
                    report(job, outcome)


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """Within: SIGINT is blocked in this thread, and so in every process (and thread) it
    starts, which inherit the mask. A Ctrl-C meanwhile is not lost: it stays pending and
    reaches this process when the block ends; a worker started here never sees it (the
    parent decides what stops, and ends its workers)."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _reporter(result: SweepResult, on_result: ResultFn | None) -> ResultFn:
    def report(job: Job, outcome: Any) -> None:
        result.add(job, outcome)
        if on_result is not None:
            on_result(job, outcome)
    return report


def sweep_error(failures: Sequence[JobFailure], total: int, consequence: str
                ) -> SweepFailedError:
    """One error naming every failed job of a sweep and the first line of the first error."""
    job = failures[0].job
    return SweepFailedError(
        f"{len(failures)} of {total} runs failed, so {consequence}.",
        context={"failed": "; ".join(f"{f.job.label}: {f.error}" for f in failures),
                 "first error": failures[0].message.splitlines()[0]},
        fix="rerun a failed job alone (`rnn-harness check PORT`) to see its full error, fix "
        "it, then run the sweep again; its finished runs were kept and reported.",
        tutorial=job.port_id.split("/")[0], port=job.port_id, profile=job.profile)


def check_scheduler(scheduler: str | None) -> None:
    """A usage error unless ``scheduler`` is None or looks like a Dask scheduler address."""
    if scheduler is not None and not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        raise UsageError(f"--scheduler {scheduler!r} is not a scheduler address.",
                         context={"argument": "--scheduler", "value": scheduler},
                         fix="pass --scheduler tcp://HOST:PORT (what `dask scheduler` "
                         "prints), or leave it out to start a LocalCluster.")


def check_timeout(timeout: float | None) -> float | None:
    """``timeout`` in seconds, None for no limit (as 0); a usage error if negative."""
    if timeout is not None and not timeout >= 0:  # negative, or NaN
        raise UsageError(f"--timeout {timeout:g} is out of range: it takes seconds, 0 or more.",
                         context={"--timeout": timeout, "valid range": "0 (no limit) or more"},
                         fix=f"pass --timeout SECONDS (default {DEFAULT_JOB_TIMEOUT_S:g}), or "
                         "--timeout 0 for no limit.")
    return timeout or None


def make_executor(name: str, *, scheduler: str | None = None, workers: int | None = None,
                  threads: int | None = None,
                  timeout: float | None = DEFAULT_JOB_TIMEOUT_S) -> Executor:
    """The executor a CLI flag names: ``local`` (default) or ``dask``. Its workers start
    with the thread policy's environment, and ``threads`` (``--threads``) as the override
    of every run they train (an existing Dask cluster keeps its own environment). A job
    running longer than ``timeout`` seconds (``--timeout``; 0 or None: no limit) is
    stopped and reported as failed."""
    timeout = check_timeout(timeout)
    env = thread_env(threads or DEFAULT_THREADS)
    if threads is not None:
        env[THREADS_ENV] = str(threads)
    if name == "local":
        if scheduler is not None:
            raise UsageError("--scheduler only applies to --executor dask.",
                             context={"--executor": name, "--scheduler": scheduler},
                             fix="add --executor dask, or drop --scheduler.")
        return LocalExecutor(workers, env=env, timeout=timeout)
    if name == "dask":
        check_scheduler(scheduler)  # the argument's own error first, installed or not
        if not _importable("distributed"):
            raise UsageError("--executor dask needs dask.distributed, which is not installed.",
                             context={"--executor": name},
                             fix="pip install 'rnn-harness[dask]'.")
        if workers is not None and workers < 1:
            raise UsageError("--executor dask needs at least one worker.",
                             context={"argument": "--workers", "value": workers},
                             fix="pass --workers 1 or more, or leave it out.")
        from harness.sweep._dask import DaskExecutor

        return DaskExecutor(scheduler, n_workers=workers, env=env, timeout=timeout)
    raise UsageError(f"Unknown executor {name!r}.", context={"--executor": name},
                     fix=f"pass --executor with one of: {', '.join(EXECUTORS)}.")


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def seed_jobs(port_ids: Iterable[str], profile: str, seeds: Iterable[int],
              device: str = "cpu") -> list[Job]:
    """The sweep ports x seeds on one device, port-major."""
    seeds = list(seeds)
    return [Job(p, profile, s, device) for p in port_ids for s in seeds]
