"""The interface layer: what ports, specs and the harness share, and nothing else.

Specs and ports import only this package, ``harness.errors`` and their framework's
``harness.backends`` module.
"""

from harness.interface._checkpoint import Checkpoint, Segment
from harness.interface._observe import EPOCH_OBSERVABLES
from harness.interface._params import Param, ParamTable, Storage
from harness.interface._port import (
    ADAPTER_MEMBERS,
    PORT_MEMBERS,
    Adapter,
    Backend,
    Batch,
    Params,
    Port,
)
from harness.interface._probe import Equivalence, Example, Probe, Sizes
from harness.interface._spec import Loop, Schedule, SegmentPlan, TutorialSpec, replace_config
from harness.interface._specport import SpecPort
from harness.interface._tolerance import (
    Tolerance,
    observable_tolerance,
    relative_error,
    tolerance_for,
    within,
)
from harness.interface._trajectory import EpochRecord, Trajectory, config_dict, config_hash

__all__ = [
    "ADAPTER_MEMBERS", "EPOCH_OBSERVABLES", "PORT_MEMBERS", "Adapter", "Backend", "Batch",
    "Checkpoint", "EpochRecord", "Equivalence", "Example", "Loop", "Param", "ParamTable", "Params",
    "Port", "Probe", "Schedule", "Segment", "SegmentPlan", "Sizes", "SpecPort", "Storage",
    "Tolerance", "Trajectory", "TutorialSpec", "config_dict", "config_hash", "observable_tolerance",
    "relative_error", "replace_config", "tolerance_for", "within",
]
