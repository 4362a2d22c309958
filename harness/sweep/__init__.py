"""Sweeps: many runs at once (ports x seeds x devices) on a local process pool or Dask,
and the seed envelopes recorded and checked through them."""

from harness.sweep._dask import DaskExecutor, SchedulerUnreachableError
from harness.sweep._envelope import (
    EnvelopeCheck,
    EnvelopeSkipped,
    check_envelope,
    check_envelopes,
    check_seeds,
    envelope_seeds,
    record_envelope,
    record_envelopes,
)
from harness.sweep._executor import (
    DEFAULT_JOB_TIMEOUT_S,
    EXECUTORS,
    WORKER_ENV,
    Executor,
    Job,
    JobFailure,
    LocalExecutor,
    Outcome,
    ResultFn,
    SweepInterrupted,
    SweepResult,
    Task,
    check_scheduler,
    check_timeout,
    default_workers,
    make_executor,
    run_job,
    seed_jobs,
    sweep_error,
)
from harness.sweep._twin import (
    SeedBatchedFn,
    TwinProof,
    find_seed_batched,
    prove_twin,
    twin_runs,
)

__all__ = [
    "DEFAULT_JOB_TIMEOUT_S", "EXECUTORS", "WORKER_ENV", "DaskExecutor", "EnvelopeCheck",
    "EnvelopeSkipped", "check_seeds", "Executor", "Job", "JobFailure",
    "LocalExecutor", "Outcome", "ResultFn", "SchedulerUnreachableError", "SeedBatchedFn",
    "TwinProof", "prove_twin", "twin_runs",
    "SweepInterrupted", "SweepResult", "Task",
    "check_envelope", "check_envelopes", "check_scheduler", "check_timeout", "default_workers",
    "envelope_seeds", "find_seed_batched", "make_executor", "record_envelope",
    "record_envelopes", "run_job", "seed_jobs", "sweep_error",
]
