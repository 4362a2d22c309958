"""Local and Dask executors: the same trajectories as a run in this process, and a dead
worker or a crashing port loses no finished run and is reported by name."""

from __future__ import annotations

import numpy as np
import pytest

from harness.registry import PortEntry, Registry
from harness.runner import run_port
from harness.sweep import DaskExecutor, Job, JobFailure, LocalExecutor, seed_jobs
from tests.fakes import fake_registry
from tests.harness.sweep.workers import BAD_SEED, crash_registry, killer_registry

SEEDS = range(6)


def assert_same_runs(result, registry, jobs):
    """Every job's trajectory equals, bit for bit, the same job run in this process."""
    __tracebackhide__ = True
    assert set(result.trajectories) == set(jobs)
    for job in jobs:
        expected = run_port(job.port_id, job.profile, seed=job.seed, registry=registry)
        got = result.trajectories[job]
        for metric, values in expected.metrics.items():
            np.testing.assert_array_equal(got.metrics[metric], values, err_msg=job.label)
        assert got.outputs == expected.outputs and got.meta["seed"] == job.seed


def test_local_pool_runs_equal_in_process_runs():
    jobs = seed_jobs(["fake/numpy"], "ci", SEEDS)
    result = LocalExecutor(2).run(jobs, fake_registry())
    assert result.ok and not result.failures
    assert_same_runs(result, fake_registry(), jobs)
    assert [job for job, _ in result.ordered()] == jobs


def test_dask_cluster_gives_the_local_executors_results(dask_scheduler):
    jobs = seed_jobs(["fake/numpy"], "ci", SEEDS)
    seen = []
    dask = DaskExecutor(dask_scheduler).run(jobs, fake_registry(), lambda j, o: seen.append(j))
    local = LocalExecutor(2).run(jobs, fake_registry())
    assert dask.ok and sorted(seen, key=jobs.index) == jobs
    for job in jobs:
        np.testing.assert_array_equal(dask.trajectories[job].metrics["loss"],
                                      local.trajectories[job].metrics["loss"])
        assert dask.trajectories[job].outputs == local.trajectories[job].outputs


@pytest.mark.torch
def test_dask_and_local_train_elman_sine_identically(dask_scheduler):
    pytest.importorskip(
        "torch", reason="install the torch extra: pip install 'rnn-harness[torch]'")
    jobs = seed_jobs(["elman_sine/torch"], "ci", [0, 1])
    dask = DaskExecutor(dask_scheduler).run(jobs)
    local = LocalExecutor(2).run(jobs)
    assert dask.ok and local.ok
    for job in jobs:
        np.testing.assert_array_equal(dask.trajectories[job].metrics["loss"],
                                      local.trajectories[job].metrics["loss"])
        assert dask.trajectories[job].outputs == local.trajectories[job].outputs


def _killed_sweep_checks(result, jobs, arrived):
    __tracebackhide__ = True
    bad = Job("fake/numpy", "ci", BAD_SEED)
    assert set(result.failures) == {bad}, [f.message for f in result.failures.values()]
    failure = result.failures[bad]
    assert failure.worker_died and "seed 3" in failure.message
    good = [j for j in jobs if j != bad]
    assert_same_runs(result, fake_registry(), good)  # no finished run was lost
    assert set(arrived) == set(jobs) and not result.ok


def test_local_worker_killed_mid_sweep_keeps_finished_runs_and_names_the_job():
    jobs = seed_jobs(["fake/numpy"], "ci", SEEDS)
    arrived = []
    result = LocalExecutor(2).run(jobs, killer_registry(), lambda j, o: arrived.append(j))
    _killed_sweep_checks(result, jobs, arrived)


def test_dask_worker_killed_mid_sweep_keeps_finished_runs_and_names_the_job():
    pytest.importorskip(
        "distributed", reason="install the dask extra: pip install 'rnn-harness[dask]'")
    jobs = seed_jobs(["fake/numpy"], "ci", SEEDS)
    arrived = []
    executor = DaskExecutor(n_workers=2)
    result = executor.run(jobs, killer_registry(), lambda j, o: arrived.append(j))
    _killed_sweep_checks(result, jobs, arrived)
    assert result.failures[Job("fake/numpy", "ci", BAD_SEED)].error == "WorkerDied"


def test_port_crash_is_a_reported_failure_not_an_exception():
    jobs = seed_jobs(["fake/numpy"], "ci", SEEDS)
    result = LocalExecutor(0).run(jobs, crash_registry())
    failure = result.failures[Job("fake/numpy", "ci", BAD_SEED)]
    assert isinstance(failure, JobFailure) and not failure.worker_died
    assert failure.error == "PortCrashError" and "ZeroDivisionError" in failure.message
    assert len(result.trajectories) == len(jobs) - 1


def test_missing_framework_is_a_failure_with_the_install_fix():
    registry = Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakePort")],
                        {"fake": "tests.fakes:SPEC"})
    result = LocalExecutor(0).run([Job("fake/numpy", "nightly", 0)], registry)
    (failure,) = result.failures.values()
    assert failure.exit_code == 2 and "has no profile 'nightly'" in failure.message
