"""A job that hangs or kills its worker fails alone, by name, with exit code 3: the hung
one after ``timeout`` seconds (its worker killed), the killed one at once; every other job
still finishes, and no worker process is left behind."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from harness.errors import UsageError
from harness.sweep import (
    DEFAULT_JOB_TIMEOUT_S,
    DaskExecutor,
    Job,
    LocalExecutor,
    SchedulerUnreachableError,
    make_executor,
    seed_jobs,
)
from tests.harness.sweep.stuck import registry
from tests.harness.sweep.workers import BAD_SEED, killer_registry

HUNG = Job("fake/numpy-hang", "ci", 0)


def test_a_hung_job_times_out_alone_and_its_worker_is_killed():
    jobs = [Job("fake/numpy", "ci", 0), HUNG, Job("fake/numpy", "ci", 1),
            Job("fake/numpy-last", "ci", 2)]
    started = time.monotonic()
    result = LocalExecutor(2, timeout=2).run(jobs, registry())
    assert time.monotonic() - started < 20
    assert set(result.failures) == {HUNG} and len(result.trajectories) == 3
    failure = result.failures[HUNG]
    assert (failure.error, failure.exit_code) == ("Timeout", 3)
    assert failure.message.startswith("timed out after 2 s (--timeout): fake/numpy-hang "
                                      "(ci, seed 0, cpu) was stopped")
    assert multiprocessing.active_children() == []  # the hung worker was killed and reaped


def test_a_killed_worker_fails_its_job_as_worker_died_with_exit_code_3():
    jobs = seed_jobs(["fake/numpy"], "ci", range(6))
    result = LocalExecutor(2).run(jobs, killer_registry())
    bad = Job("fake/numpy", "ci", BAD_SEED)
    assert set(result.failures) == {bad} and len(result.trajectories) == 5
    failure = result.failures[bad]
    assert (failure.error, failure.exit_code, failure.worker_died) == ("WorkerDied", 3, True)
    assert failure.message.startswith("worker died (SIGKILL) running fake/numpy (ci, seed 3")
    assert multiprocessing.active_children() == []


def test_the_timeout_reaches_the_executor_and_zero_means_no_limit():
    assert make_executor("local").timeout == DEFAULT_JOB_TIMEOUT_S
    assert make_executor("local", timeout=5).timeout == 5
    assert make_executor("local", timeout=0).timeout is None
    with pytest.raises(UsageError, match="--timeout -1 is out of range"):
        make_executor("local", timeout=-1)


def test_an_unreachable_scheduler_is_a_usage_error_naming_it_within_seconds():
    pytest.importorskip(
        "distributed", reason="install the dask extra: pip install 'rnn-harness[dask]'")
    started = time.monotonic()
    executor = DaskExecutor("tcp://127.0.0.1:1", connect_timeout=1)
    with pytest.raises(SchedulerUnreachableError) as caught:
        executor.run([Job("fake/numpy", "ci", 0)], registry())
    assert time.monotonic() - started < 10
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert message.startswith("No Dask scheduler answered at tcp://127.0.0.1:1 within 1 s")
    assert "leave out --scheduler" in message and "Traceback" not in message


@pytest.mark.slow
def test_a_hung_job_on_dask_times_out_alone_and_its_worker_is_restarted():
    pytest.importorskip(
        "distributed", reason="install the dask extra: pip install 'rnn-harness[dask]'")
    jobs = [Job("fake/numpy", "ci", 0), HUNG, Job("fake/numpy", "ci", 1),
            Job("fake/numpy-last", "ci", 2)]
    result = DaskExecutor(n_workers=2, timeout=2).run(jobs, registry())
    assert set(result.failures) == {HUNG} and len(result.trajectories) == 3
    failure = result.failures[HUNG]
    assert (failure.error, failure.exit_code) == ("Timeout", 3)
    assert "fake/numpy-hang (ci, seed 0, cpu) was stopped (its Dask worker restarted)" in (
        failure.message)
    assert multiprocessing.active_children() == []
