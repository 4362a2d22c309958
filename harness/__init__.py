"""rnn-harness: seeded training, golden trajectories, cross-framework checks for RNN tutorials.

The names below are imported on first use (as pluggy's and Hypothesis's public faces are
small): ``import harness.interface`` in a port loads the interface alone, not the store,
the sweeps or the report.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module that defines it
_WHERE = {
    **dict.fromkeys(("Calibration", "calibrate"), "harness.calibrate"),
    **dict.fromkeys(("CheckResult", "check_request"), "harness.check"),
    **dict.fromkeys(("Comparison", "MetricComparison", "compare_trajectories"),
                    "harness.compare"),
    **dict.fromkeys((
        "ConfigChangedError", "ConfigMismatchError", "CorpusError", "DeviceUnavailableError",
        "DivergenceError", "FrameworkMissingError", "GoldenCorruptError", "GoldenError",
        "GoldenMissingError", "HarnessError", "RegistryError", "RegressionError",
        "RestoreNotExactError", "SchemaVersionError", "SweepFailedError",
        "UnknownPortError", "UnknownProfileError", "UsageError"), "harness.errors"),
    **dict.fromkeys(("Envelope", "EnvelopeVerdict", "GoldenStore", "classify", "read_envelope"),
                    "harness.golden"),
    **dict.fromkeys(("GateRequest", "Verdict", "gate", "load_golden", "record", "resolve"),
                    "harness.check"),
    **dict.fromkeys(("EpochRecord", "Port", "Tolerance", "Trajectory", "TutorialSpec"),
                    "harness.interface"),
    **dict.fromkeys(("ProjectConfig", "find_project"), "harness.project"),
    **dict.fromkeys(("PortEntry", "Registry", "default_registry"), "harness.registry"),
    "run_port": "harness.runner",
    "seed_everything": "harness.seeding",
    **dict.fromkeys((
        "DaskExecutor", "EnvelopeCheck", "Executor", "Job", "JobFailure", "LocalExecutor",
        "SweepResult", "check_envelope", "record_envelope"), "harness.sweep"),
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
