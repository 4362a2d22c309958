"""The check: what a golden means for a run, composed once.

``check``/``check_request`` return one port's whole verdict (``CheckResult``): the
golden's seed and thread count, the profile's run against its golden (``gate``), every
checkpoint segment replayed from its exact state (``gate_segments``), and the seed
envelope when asked. ``record_golden`` is the one writer of goldens. The CLI, the pytest
plugin, the report and the envelope sweeps call these and only print or assert what they
return. Files are the store's (``harness.golden``); arithmetic is ``harness.compare``'s;
training is the driver's (``harness.runner``).
"""

from harness.check._compose import (
    CheckResult,
    PartError,
    Recorded,
    check,
    check_envelope_of,
    check_request,
    check_segments,
    golden_threads,
    record_golden,
    record_segments_of,
    segments_summary,
)
from harness.check._gate import (
    Verdict,
    changed_fields,
    gate,
    golden_seed,
    load_envelope,
    load_golden,
    load_initial,
    obtained_fallback_dir,
    record,
    record_initial,
    recorded_seed,
    write_obtained_files,
)
from harness.check._notes import (
    device_change_notes,
    divergence_notes,
    machine_notes,
)
from harness.check._request import (
    GOLDEN_DIR_ENV,
    SEED_RANGE,
    GateRequest,
    check_seed,
    default_golden_dir,
    resolve,
)
from harness.check._segments import (
    SEGMENT_PROFILE,
    SegmentVerdict,
    gate_segments,
    record_golden_segments,
    stored_segments,
)

__all__ = [
    "GOLDEN_DIR_ENV", "SEED_RANGE", "SEGMENT_PROFILE", "CheckResult", "GateRequest",
    "PartError", "Recorded", "SegmentVerdict", "Verdict", "changed_fields", "check",
    "check_envelope_of", "check_request", "check_segments", "check_seed",
    "default_golden_dir", "device_change_notes", "divergence_notes", "gate", "gate_segments",
    "golden_seed", "golden_threads", "load_envelope", "load_golden", "load_initial",
    "machine_notes",
    "obtained_fallback_dir", "record", "record_golden", "record_golden_segments",
    "record_initial", "record_segments_of", "recorded_seed", "resolve", "segments_summary",
    "stored_segments", "write_obtained_files",
]
