"""Goldens: the one file codec, the store, seed envelopes, and the gate that compares a run
with its golden (``resolve`` -> ``gate`` -> ``Verdict``; ``record`` writes goldens)."""

from harness.golden._codec import FileKind, Where, atomic_write, csv_text, meta_text, npz_bytes
from harness.golden._envelope import (
    BAND_STDS,
    ENVELOPE,
    ENVELOPE_FILE,
    ENVELOPE_META_FILE,
    STATS,
    Envelope,
    EnvelopeVerdict,
    MetricVerdict,
    band,
    build_envelope,
    classify,
    envelope_files,
    epoch_ranges,
    read_envelope,
    record_envelope_command,
    verdict_message,
    write_envelope,
)
from harness.golden._gate import (
    GOLDEN_DIR_ENV,
    SEED_RANGE,
    GateRequest,
    Verdict,
    check_seed,
    default_golden_dir,
    gate,
    golden_seed,
    load_envelope,
    load_golden,
    load_initial,
    obtained_fallback_dir,
    record,
    record_initial,
    recorded_seed,
    resolve,
    write_obtained_files,
)
from harness.golden._segment_gate import (
    SEGMENT_PROFILE,
    SegmentVerdict,
    gate_segments,
    record_golden_segments,
    stored_segments,
)
from harness.golden._segments import read_segments, record_segments_command, write_segments
from harness.golden._store import (
    INITIAL,
    INITIAL_FILE,
    INITIAL_META_FILE,
    META_FILE,
    SCHEMA_VERSION,
    TRAJECTORY,
    TRAJECTORY_FILE,
    GoldenStore,
    initial_files,
    record_command,
    record_initial_command,
    trajectory_files,
)

__all__ = [
    "SEED_RANGE", "check_seed", "obtained_fallback_dir",
    "SEGMENT_PROFILE", "SegmentVerdict", "gate_segments", "read_segments",
    "record_golden_segments", "record_segments_command", "stored_segments", "write_segments",
    "BAND_STDS", "ENVELOPE", "ENVELOPE_FILE", "ENVELOPE_META_FILE", "GOLDEN_DIR_ENV", "INITIAL",
    "INITIAL_FILE", "INITIAL_META_FILE", "META_FILE", "SCHEMA_VERSION", "STATS", "TRAJECTORY",
    "TRAJECTORY_FILE", "Envelope", "EnvelopeVerdict", "FileKind", "GateRequest",
    "GoldenStore", "MetricVerdict", "Verdict", "Where", "atomic_write", "band",
    "build_envelope", "classify", "csv_text", "default_golden_dir", "envelope_files",
    "epoch_ranges", "gate", "golden_seed", "initial_files", "load_envelope", "load_golden",
    "load_initial", "meta_text", "npz_bytes", "read_envelope", "record", "record_command",
    "record_envelope_command", "record_initial", "record_initial_command", "recorded_seed",
    "resolve", "trajectory_files", "verdict_message", "write_envelope", "write_obtained_files",
]
