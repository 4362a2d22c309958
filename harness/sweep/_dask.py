"""The Dask executor: a sweep on ``dask.distributed``, a LocalCluster started for it or an
existing scheduler, with the local executor's outcomes (dead workers, timeouts)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from harness.errors import UsageError
from harness.registry import Registry
from harness.sweep._executor import (
    DEFAULT_JOB_TIMEOUT_S,
    SCHEDULER_CONNECT_TIMEOUT_S,
    WORKER_ENV,
    Job,
    JobFailure,
    ResultFn,
    SweepInterrupted,
    SweepResult,
    Task,
    _attempt,
    _died,
    _reporter,
    _timed_out,
    _train,
    check_scheduler,
    check_timeout,
    default_workers,
    sigint_blocked,
)


class SchedulerUnreachableError(UsageError):
    """``--scheduler`` names an address where no Dask scheduler answers."""


#: The Dask event topic on which a job says it started on a worker (its timeout counts
#: from then, not from its submission).
STARTED_TOPIC = "rnn-harness-job-started"
#: How often the Dask executor looks for jobs that started or passed their timeout.
DASK_POLL_S = 1.0


def _dask_attempt(task: Task, job: Job, registry: Registry | None, key: str) -> Any:
    """``_attempt`` on a Dask worker, first telling the client that ``key`` started."""
    from distributed import get_worker

    with contextlib.suppress(ValueError):  # not on a worker (a test's in-process call)
        get_worker().log_event(STARTED_TOPIC, key)
    return _attempt(task, job, registry)


def _ignore_sigint(sweep_pid: int) -> None:
    """Run on our LocalCluster's worker processes: Ctrl-C reaches the whole process group,
    and the sweep's process alone decides what stops (closing the cluster ends them)."""
    if os.getpid() != sweep_pid and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class DaskExecutor:
    """``dask.distributed``: a ``LocalCluster`` on loopback started for the sweep, or the
    existing cluster at ``scheduler`` (``tcp://HOST:PORT``), whose workers must be able to
    import ``harness`` and the ports.

    Each result is gathered to this process as soon as it finishes, so a worker that dies
    later loses nothing. A worker's death fails every job it held (Dask cannot tell which
    one killed it); those jobs are then rerun one at a time, and a job that kills its
    worker again is reported as failed (``WorkerDied``, exit code 3). A job running past
    ``timeout`` seconds is reported as ``Timeout`` and its worker restarted (on a cluster
    we started; an existing cluster's worker is left to its owner). ``allowed_failures`` is
    the scheduler's own retry count on a cluster we start (an existing scheduler keeps its
    ``distributed.scheduler.allowed-failures``).
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, *, n_workers: int | None = None,
                 processes: bool = True, allowed_failures: int = 0,
                 env: Mapping[str, str] | None = None,
                 timeout: float | None = DEFAULT_JOB_TIMEOUT_S,
                 connect_timeout: float | None = None) -> None:
        check_scheduler(scheduler)
        self.scheduler = scheduler
        self.n_workers = n_workers
        self.processes = processes
        self.allowed_failures = allowed_failures
        self.env = dict(WORKER_ENV if env is None else env)
        self.timeout = check_timeout(timeout)
        #: seconds ``scheduler`` has to answer (default ``SCHEDULER_CONNECT_TIMEOUT_S``)
        self.connect_timeout = connect_timeout or SCHEDULER_CONNECT_TIMEOUT_S

    @contextlib.contextmanager
    def client(self, jobs: int = 2) -> Iterator[Any]:
        """A connected ``distributed.Client`` (and the LocalCluster it owns, if any)."""
        import dask
        from dask.distributed import Client, LocalCluster

        if self.scheduler is not None:
            with self._connect(Client) as client:
                yield client
            return
        workers = self.n_workers or default_workers(jobs)
        settings = {"distributed.scheduler.allowed-failures": self.allowed_failures}
        with dask.config.set(settings), self._cluster(LocalCluster, workers) as cluster, \
                Client(cluster) as client:
            if self.processes:
                client.run(_ignore_sigint, os.getpid())
            yield client

    def _cluster(self, cluster_class: Any, workers: int) -> Any:
        # a Ctrl-C while the workers start stays pending here (see sigint_blocked)
        with sigint_blocked():
            return cluster_class(n_workers=workers, threads_per_worker=1,
                                 processes=self.processes, host="127.0.0.1",
                                 dashboard_address="127.0.0.1:0", env=self.env)

    def _connect(self, client_class: Any) -> Any:
        """A Client of the scheduler at ``self.scheduler``, or a typed error naming it."""
        try:
            return client_class(self.scheduler, timeout=self.connect_timeout)
        except (OSError, TimeoutError) as exc:
            raise SchedulerUnreachableError(
                f"No Dask scheduler answered at {self.scheduler} within "
                f"{self.connect_timeout:g} s; nothing was run.",
                context={"--scheduler": self.scheduler, "error": f"{type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:200]}"},
                fix=f"start one there (`dask scheduler --port PORT`, and `dask worker "
                f"{self.scheduler}` on each machine), correct the address (what `dask "
                "scheduler` prints), or leave out --scheduler to start a LocalCluster "
                "here.") from None

    def run(self, jobs: Sequence[Job], registry: Registry | None = None,
            on_result: ResultFn | None = None, *, task: Task | None = None) -> SweepResult:
        result = SweepResult(tuple(jobs))
        report = _reporter(result, on_result)
        task = task or _train
        try:
            with self.client(len(jobs)) as client:
                started: dict[str, float] = {}
                client.subscribe_topic(
                    STARTED_TOPIC, lambda event: started.setdefault(event[1], time.monotonic()))
                lost = self._submit(client, list(jobs), registry, report, task, started)
                for job in lost:  # alone now: a job that still kills its worker is the culprit
                    self._submit(client, [job], registry, report, task, started, last_try=True)
        except KeyboardInterrupt as exc:  # leaving the client ended our cluster's workers
            raise SweepInterrupted(result, getattr(exc, "signum", signal.SIGINT)) from exc
        return result

    def _submit(self, client: Any, jobs: list[Job], registry: Registry | None,
                report: ResultFn, task: Task, started: dict[str, float],
                last_try: bool = False) -> list[Job]:
        """Run ``jobs``, reporting each as it finishes; return those lost with a dead worker
        (every job that was on it, not only the one that killed it) unless ``last_try``."""
        from distributed import wait
        from distributed.scheduler import KilledWorker

        run_id = uuid.uuid4().hex[:8]
        futures = {}
        for i, job in enumerate(jobs):
            key = f"rnn-harness-{run_id}-{i}"
            futures[client.submit(_dask_attempt, task, job, registry, key, pure=False,
                                  key=key)] = job
        lost, pending = [], set(futures)
        while pending:
            try:
                done, _ = wait(list(pending), return_when="FIRST_COMPLETED",
                               timeout=DASK_POLL_S if self.timeout is not None else None)
            except TimeoutError:
                done = set()
            for fut in done:
                pending.discard(fut)
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
            for fut in self._expired(pending, started):
                pending.discard(fut)
                self._stop(client, fut, futures[fut], report)
        return sorted(lost, key=jobs.index)

    def _expired(self, pending: set[Any], started: dict[str, float]) -> list[Any]:
        if self.timeout is None:
            return []
        now = time.monotonic()
        return [f for f in pending if now - started.get(f.key, now) >= self.timeout]

    def _stop(self, client: Any, fut: Any, job: Job, report: ResultFn) -> None:
        """Report a job past its timeout, cancel it and free its worker where the cluster is
        ours (a running thread cannot be stopped, its process can); an existing cluster's
        worker is left to its owner."""
        holders = [w for w, keys in client.processing().items() if fut.key in keys]
        fut.cancel()
        restart = self.scheduler is None and holders
        if restart:
            what = "was stopped (its Dask worker restarted)"
        else:
            where = ", ".join(holders) or "a worker"
            what = (f"was cancelled, but may still run on {where} of the cluster at "
                    f"{self.scheduler} (restart that worker to free it)")
        report(job, _timed_out(job, self.timeout or 0.0, what))
        if restart:
            with contextlib.suppress(Exception):
                client.restart_workers(holders, raise_for_error=False)


def _dask_failure(job: Job, exc: BaseException) -> JobFailure:
    from distributed.scheduler import KilledWorker

    if isinstance(exc, KilledWorker):
        return _died(job, "Dask", "KilledWorker", f" ({' '.join(str(exc).split())})")
    return JobFailure(job, type(exc).__name__, str(exc))

