"""rnn-harness: seeded training, golden trajectories, cross-framework checks for RNN tutorials."""

from harness.calibrate import Calibration, calibrate
from harness.checking import CheckResult, check_port, load_golden, record_port
from harness.compare import Comparison, MetricComparison, compare_trajectories
from harness.envelope import (
    Envelope,
    EnvelopeCheck,
    EnvelopeVerdict,
    check_envelope,
    classify,
    read_envelope,
    record_envelope,
)
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
    UnknownPortError,
    UnknownProfileError,
    UsageError,
)
from harness.executor import (
    DaskExecutor,
    Executor,
    Job,
    JobFailure,
    LocalExecutor,
    SweepFailedError,
    SweepResult,
)
from harness.golden import GoldenStore
from harness.interface import EpochRecord, Port, Tolerance, Trajectory, TutorialSpec
from harness.registry import PortEntry, Registry, default_registry
from harness.runner import run_port
from harness.seeding import seed_everything

__all__ = [
    "Calibration", "CheckResult", "Comparison", "ConfigMismatchError", "CorpusError",
    "DeviceUnavailableError", "DivergenceError", "EpochRecord", "FrameworkMissingError",
    "GoldenCorruptError", "GoldenError", "GoldenMissingError", "GoldenStore", "HarnessError",
    "MetricComparison", "Port", "PortEntry", "Registry", "RegistryError", "RegressionError",
    "SchemaVersionError", "Tolerance", "Trajectory", "TutorialSpec", "UnknownPortError",
    "UnknownProfileError", "UsageError", "calibrate", "check_port", "compare_trajectories",
    "default_registry", "load_golden", "record_port", "run_port", "seed_everything",
    # seed envelopes and executors
    "DaskExecutor", "Envelope", "EnvelopeCheck", "EnvelopeVerdict", "Executor", "Job",
    "JobFailure", "LocalExecutor", "SweepFailedError", "SweepResult", "check_envelope",
    "classify", "read_envelope", "record_envelope",
]
