"""rnn-harness: seeded training, golden trajectories, cross-framework checks for RNN tutorials."""

from harness.calibrate import Calibration, calibrate
from harness.compare import Comparison, MetricComparison, compare_trajectories
from harness.errors import (
    ConfigMismatchError,
    CorpusError,
    DeviceUnavailableError,
    DivergenceError,
    FrameworkMissingError,
    GoldenCorruptError,
    GoldenError,
    GoldenMissingError,
    HarnessError,
    RegistryError,
    RegressionError,
    SchemaVersionError,
    SweepFailedError,
    UnknownPortError,
    UnknownProfileError,
    UsageError,
)
from harness.golden import (
    Envelope,
    EnvelopeVerdict,
    GateRequest,
    GoldenStore,
    Verdict,
    classify,
    gate,
    load_golden,
    read_envelope,
    record,
    resolve,
)
from harness.interface import EpochRecord, Port, Tolerance, Trajectory, TutorialSpec
from harness.registry import PortEntry, Registry, default_registry
from harness.runner import run_port
from harness.seeding import seed_everything
from harness.sweep import (
    DaskExecutor,
    EnvelopeCheck,
    Executor,
    Job,
    JobFailure,
    LocalExecutor,
    SweepResult,
    check_envelope,
    record_envelope,
)

__all__ = [
    "Calibration", "Comparison", "ConfigMismatchError", "CorpusError",
    "DeviceUnavailableError", "DivergenceError", "EpochRecord", "FrameworkMissingError",
    "GateRequest", "GoldenCorruptError", "GoldenError", "GoldenMissingError", "GoldenStore",
    "HarnessError", "MetricComparison", "Port", "PortEntry", "Registry", "RegistryError",
    "RegressionError", "SchemaVersionError", "Tolerance", "Trajectory", "TutorialSpec",
    "UnknownPortError", "UnknownProfileError", "UsageError", "Verdict", "calibrate",
    "compare_trajectories", "default_registry", "gate", "load_golden", "record", "resolve",
    "run_port", "seed_everything",
    # seed envelopes and executors
    "DaskExecutor", "Envelope", "EnvelopeCheck", "EnvelopeVerdict", "Executor", "Job",
    "JobFailure", "LocalExecutor", "SweepFailedError", "SweepResult", "check_envelope",
    "classify", "read_envelope", "record_envelope",
]
