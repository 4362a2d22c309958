"""Executors: run a sweep of jobs (port x profile x seed x device) locally or on Dask.

Every executor returns the same ``SweepResult``: a Trajectory per finished job (or what
another ``task`` returns, e.g. a port's gate verdict) and a ``JobFailure`` per job that
failed, so a crash or a dead worker never hides a finished run.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.errors import HarnessError, SweepFailedError, UsageError
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
    """Why a job produced no trajectory. ``worker_died``: the process running it was lost."""

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


def _init_worker(env: Mapping[str, str]) -> None:
    os.environ.update(env)


def _died(job: Job, where: str, detail: str) -> JobFailure:
    return JobFailure(job, "WorkerDied", f"The {where} worker running {job.label} died: "
                      f"{detail}. Finished runs are kept; rerun the failed job alone to "
                      "see whether it crashes the process (segfault, OOM, os._exit).",
                      worker_died=True)


class LocalExecutor:
    """A pool of spawned processes on this machine (``max_workers=0``: run in this process).

    A worker that dies breaks the pool; the jobs it left unfinished are then rerun one at
    a time in a fresh one-worker pool, so the job that kills its process is named exactly
    and every other job still finishes.
    """

    name = "local"

    def __init__(self, max_workers: int | None = None, *,
                 env: Mapping[str, str] | None = None) -> None:
        if max_workers is not None and max_workers < 0:
            raise UsageError("max_workers must be 0 (in-process) or more.",
                             context={"argument": "max_workers", "value": max_workers},
                             fix="pass --workers 0 or a positive number.")
        self.max_workers = max_workers
        self.env = dict(WORKER_ENV if env is None else env)

    def run(self, jobs: Sequence[Job], registry: Registry | None = None,
            on_result: ResultFn | None = None, *, task: Task | None = None) -> SweepResult:
        result = SweepResult(tuple(jobs))
        report = _reporter(result, on_result)
        task = task or _train
        if self.max_workers == 0:
            for job in jobs:
                report(job, _attempt(task, job, registry))
            return result
        workers = self.max_workers or default_workers(len(jobs))
        left = self._parallel(list(jobs), registry, workers, report, task)
        for job in left:
            report(job, self._isolated(job, registry, task))
        return result

    def _pool(self, workers: int) -> cf.ProcessPoolExecutor:
        # spawn, not fork: a forked copy of a process that already runs framework
        # threads (torch, MXNet engines) can deadlock.
        return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_init_worker, initargs=(self.env,))

    def _parallel(self, jobs: list[Job], registry: Registry | None, workers: int,
                  report: ResultFn, task: Task) -> list[Job]:
        """Run ``jobs`` on ``workers`` processes; return those a broken pool left unfinished."""
        left: list[Job] = []
        with self._pool(workers) as pool:
            futures = {pool.submit(_attempt, task, job, registry): job for job in jobs}
            for fut in cf.as_completed(futures):
                if isinstance(fut.exception(), cf.process.BrokenProcessPool):
                    left.append(futures[fut])
                elif (exc := fut.exception()) is not None:  # e.g. the job did not pickle
                    report(futures[fut], JobFailure(futures[fut], type(exc).__name__, str(exc)))
                else:
                    report(futures[fut], fut.result())
        return sorted(left, key=jobs.index)

    def _isolated(self, job: Job, registry: Registry | None, task: Task) -> Any:
        with self._pool(1) as pool:
            try:
                return pool.submit(_attempt, task, job, registry).result()
            except cf.process.BrokenProcessPool as exc:
                return _died(job, "local", str(exc))


class DaskExecutor:
    """``dask.distributed``: a ``LocalCluster`` on loopback started for the sweep, or the
    existing cluster at ``scheduler`` (``tcp://HOST:PORT``), whose workers must be able to
    import ``harness`` and the ports.

    Each result is gathered to this process as soon as it finishes, so a worker that dies
    later loses nothing. A worker's death fails every job it held (Dask cannot tell which
    one killed it); those jobs are then rerun one at a time, and a job that kills its
    worker again is reported as failed. ``allowed_failures`` is the scheduler's own retry
    count on a cluster we start (an existing scheduler keeps its
    ``distributed.scheduler.allowed-failures``).
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, *, n_workers: int | None = None,
                 processes: bool = True, allowed_failures: int = 0,
                 env: Mapping[str, str] | None = None) -> None:
        check_scheduler(scheduler)
        self.scheduler = scheduler
        self.n_workers = n_workers
        self.processes = processes
        self.allowed_failures = allowed_failures
        self.env = dict(WORKER_ENV if env is None else env)

    @contextlib.contextmanager
    def client(self, jobs: int = 2) -> Iterator[Any]:
        """A connected ``distributed.Client`` (and the LocalCluster it owns, if any)."""
        import dask
        from dask.distributed import Client, LocalCluster

        if self.scheduler is not None:
            with Client(self.scheduler) as client:
                yield client
            return
        workers = self.n_workers or default_workers(jobs)
        settings = {"distributed.scheduler.allowed-failures": self.allowed_failures}
        with dask.config.set(settings), LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=self.processes,
                host="127.0.0.1", dashboard_address="127.0.0.1:0", env=self.env) as cluster, \
                Client(cluster) as client:
            yield client

    def run(self, jobs: Sequence[Job], registry: Registry | None = None,
            on_result: ResultFn | None = None, *, task: Task | None = None) -> SweepResult:
        result = SweepResult(tuple(jobs))
        report = _reporter(result, on_result)
        task = task or _train
        with self.client(len(jobs)) as client:
            lost = self._submit(client, list(jobs), registry, report, task)
            for job in lost:  # alone now: a job that still kills its worker is the culprit
                self._submit(client, [job], registry, report, task, last_try=True)
        return result

    def _submit(self, client: Any, jobs: list[Job], registry: Registry | None,
                report: ResultFn, task: Task, last_try: bool = False) -> list[Job]:
        """Run ``jobs``, reporting each as it finishes; return those lost with a dead worker
        (every job that was on it, not only the one that killed it) unless ``last_try``."""
        from dask.distributed import as_completed
        from distributed.scheduler import KilledWorker

        run_id = uuid.uuid4().hex[:8]
        futures = {client.submit(_attempt, task, job, registry, pure=False,
                                 key=f"rnn-harness-{run_id}-{i}"): job
                   for i, job in enumerate(jobs)}
        lost = []
        for fut in as_completed(futures):
            job = futures[fut]
            try:
                # gathered as soon as it is done; a result lost with its worker before
                # that is recomputed by Dask (``result`` waits), as jobs are deterministic
                report(job, fut.result())
            except KilledWorker as exc:
                if not last_try:
                    lost.append(job)
                else:
                    report(job, _dask_failure(job, exc))
            except Exception as exc:  # anything else Dask raises (comm errors, cancelled)
                report(job, _dask_failure(job, exc))
            fut.release()
        return sorted(lost, key=jobs.index)


def _dask_failure(job: Job, exc: BaseException) -> JobFailure:
    from distributed.scheduler import KilledWorker

    if isinstance(exc, KilledWorker):
        return _died(job, "Dask", str(exc))
    return JobFailure(job, type(exc).__name__, str(exc))


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


def make_executor(name: str, *, scheduler: str | None = None, workers: int | None = None,
                  threads: int | None = None) -> Executor:
    """The executor a CLI flag names: ``local`` (default) or ``dask``. Its workers start
    with the thread policy's environment, and ``threads`` (``--threads``) as the override
    of every run they train (an existing Dask cluster keeps its own environment)."""
    env = thread_env(threads or DEFAULT_THREADS)
    if threads is not None:
        env[THREADS_ENV] = str(threads)
    if name == "local":
        if scheduler is not None:
            raise UsageError("--scheduler only applies to --executor dask.",
                             context={"--executor": name, "--scheduler": scheduler},
                             fix="add --executor dask, or drop --scheduler.")
        return LocalExecutor(workers, env=env)
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
        return DaskExecutor(scheduler, n_workers=workers, env=env)
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
