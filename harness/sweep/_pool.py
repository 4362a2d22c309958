"""The local executor's worker processes: each holds one job at a time (so a worker that
dies or runs past the timeout fails exactly its job), ignores Ctrl-C (the parent decides
what stops) and dies with the process that started it, even one killed by ``kill -9``."""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection as mp_connection
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from harness.sweep._executor import (
    Job,
    JobFailure,
    _attempt,
    _died,
    _exit_detail,
    _timed_out,
    sigint_blocked,
)


def _init_worker(env: Mapping[str, str]) -> None:
    os.environ.update(env)


#: prctl(2) option: the signal the kernel sends this process when its parent thread ends.
PR_SET_PDEATHSIG = 1
#: How often a worker without PR_SET_PDEATHSIG (not Linux) checks that its parent lives.
PARENT_POLL_S = 1.0


def _die_with_parent(parent: int) -> None:
    """End this worker when the sweep's process ends, even by ``kill -9`` (when no cleanup
    of its own can run). On Linux the kernel sends SIGKILL the moment the parent ends
    (PR_SET_PDEATHSIG), however busy the worker is: a port stuck in native code holding the
    GIL dies too, which a polling thread could not ensure. Elsewhere a thread polls."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent:  # it ended before the request was made
                os._exit(1)
            return
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                     name="rnn-harness-parent-watch").start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def _worker_main(conn: Connection, env: Mapping[str, str], parent: int) -> None:
    """A local pool worker: run one job at a time as the parent sends them, send back each
    outcome, until the parent says stop (None) or goes away."""
    _die_with_parent(parent)
    # Ctrl-C reaches the whole process group; the parent alone decides what stops (it ends
    # its workers), so a worker ignores it. SIGINT arrived blocked (see Pool._spawn).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _init_worker(env)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        job, payload = message
        try:
            task, registry = pickle.loads(payload)
        except Exception as exc:  # e.g. the task's module does not import in a worker
            conn.send(JobFailure(job, type(exc).__name__, f"the task of {job.label} could not "
                                 f"be loaded in its worker: {exc}"))
            continue
        conn.send(_STARTED)  # its timeout counts from here, not from the worker's start-up
        outcome = _attempt(task, job, registry)
        try:
            conn.send(outcome)
        except Exception as exc:  # the outcome does not pickle
            conn.send(JobFailure(job, type(exc).__name__, f"the outcome of {job.label} could "
                                 f"not be sent back from its worker: {exc}"))


class _Started:
    """What a worker sends when it starts a job, before the job's outcome."""


_STARTED = _Started()
#: A busy worker's job has not ended yet.
_RUNNING = object()


@dataclass
class Worker:
    process: Any  # a spawned multiprocessing.Process
    conn: Connection
    job: Job | None = None
    started: float = 0.0


#: Seconds a worker is given to exit after SIGTERM before SIGKILL.
STOP_GRACE_S = 1.0


class Pool:
    """Spawned worker processes that hold one job each at a time, so the job of a worker
    that dies or runs past the timeout is known exactly and only that one is lost."""

    def __init__(self, env: Mapping[str, str], size: int, timeout: float | None) -> None:
        self.env, self.size, self.timeout = dict(env), size, timeout
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[Worker] = []

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def busy(self) -> bool:
        return any(w.job is not None for w in self.workers)

    @property
    def free(self) -> bool:
        return len(self.workers) < self.size or any(w.job is None for w in self.workers)

    def submit(self, job: Job, payload: bytes) -> tuple[Job, JobFailure] | None:
        """Hand ``job`` to an idle worker (a new one if none); a failure if it could not."""
        worker = next((w for w in self.workers if w.job is None), None) or self._spawn()
        worker.job, worker.started = job, time.monotonic()
        try:
            worker.conn.send((job, payload))
        except OSError:  # the idle worker was gone
            return job, self._lost(worker, job)
        return None

    def _spawn(self) -> Worker:
        # PR_SET_PDEATHSIG fires when the *thread* that started a worker ends: the thread
        # running the sweep, which ends every worker before it returns
        # spawn, not fork: a forked copy of a process that already runs framework threads
        # (torch, MXNet engines) can deadlock
        ours, theirs = self.context.Pipe()
        process = self.context.Process(target=_worker_main, args=(theirs, self.env, os.getpid()),
                                       name="rnn-harness-worker")
        # SIGINT stays blocked in the child (the mask is inherited) until it ignores it: a
        # Ctrl-C while it starts up neither kills it with a traceback nor is lost here,
        # where it arrives once the worker is listed (so ``close`` ends it)
        with sigint_blocked():
            process.start()
            theirs.close()
            worker = Worker(process, ours)
            self.workers.append(worker)
        return worker

    def wait(self) -> list[tuple[Job, Any]]:
        """Wait for a busy worker to finish, die or pass the timeout; what ended, by job."""
        busy = [(w, w.job) for w in self.workers if w.job is not None]
        if not busy:  # every job handed out failed to reach its worker
            return []
        left = None
        if self.timeout is not None:
            left = max(0.0, min(w.started for w, _ in busy) + self.timeout - time.monotonic())
        ready = mp_connection.wait([w.conn for w, _ in busy] +
                                   [w.process.sentinel for w, _ in busy], left)
        ended = [(job, self._outcome(worker, job, ready)) for worker, job in busy]
        return [(job, outcome) for job, outcome in ended if outcome is not _RUNNING]

    def _outcome(self, worker: Worker, job: Job, ready: list[Any]) -> Any:
        """What ``worker`` ended ``job`` with: the job's outcome, or a WorkerDied or
        Timeout failure; ``_RUNNING`` while it runs."""
        if worker.conn in ready:
            try:
                outcome = worker.conn.recv()
            except (EOFError, OSError):  # it died while sending
                return self._lost(worker, job)
            if isinstance(outcome, _Started):
                worker.started = time.monotonic()
                return _RUNNING
            worker.job = None
            return outcome
        if worker.process.sentinel in ready:
            return self._lost(worker, job)
        if self.timeout is not None and time.monotonic() - worker.started >= self.timeout:
            self._end([worker])
            return _timed_out(job, self.timeout, "was stopped (its worker process killed)")
        return _RUNNING

    def _lost(self, worker: Worker, job: Job) -> JobFailure:
        self._end([worker])
        return _died(job, "local", _exit_detail(worker.process.exitcode))

    def _end(self, workers: list[Worker]) -> None:
        """Stop ``workers`` (SIGTERM, then SIGKILL after a grace period) and reap them."""
        try:
            for worker in workers:
                if worker.process.is_alive():
                    worker.process.terminate()
            deadline = time.monotonic() + STOP_GRACE_S
            for worker in workers:
                worker.process.join(max(0.0, deadline - time.monotonic()))
        finally:
            for worker in workers:
                if worker.process.exitcode is None:
                    worker.process.kill()
                    worker.process.join()
                worker.conn.close()
                self.workers.remove(worker)

    def close(self) -> None:
        """End every worker: idle ones are told to stop, busy ones (a sweep interrupted)
        are killed; none is left behind."""
        for worker in self.workers:
            if worker.job is None:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
        idle = [w for w in self.workers if w.job is None]
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in idle:
            worker.process.join(max(0.0, deadline - time.monotonic()))
        self._end(list(self.workers))

