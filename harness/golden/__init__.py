"""The golden store: files only. The one file codec (CSV/NPZ + JSON meta + SHA-256 +
schema), atomic folder swaps, locks; trajectories, initial weights, checkpoint segments and
seed envelopes (with the envelope's band and rank-test arithmetic, pending their move to
``harness.compare``). What a golden means for a run (the gate, the segments' replay, the
one check) is ``harness.check``'s."""

from harness.golden._codec import FileKind, Where, atomic_write, csv_text, meta_text, npz_bytes
from harness.golden._envelope import (
    BAND_STDS,
    ENVELOPE,
    ENVELOPE_FILE,
    ENVELOPE_META_FILE,
    OUTCOMES,
    STATS,
    Envelope,
    EnvelopeVerdict,
    MetricVerdict,
    band,
    build_envelope,
    classify,
    envelope_files,
    epoch_ranges,
    outcomes_of,
    read_envelope,
    record_envelope_command,
    verdict_message,
    write_envelope,
)
from harness.golden._outcomes import (
    ALPHA,
    POWER,
    STAT_TEST,
    OutcomeTest,
    OutcomeVerdict,
    compare_outcomes,
    detectable_shift,
    outcome_message,
    rank_test_p,
    rerecord_note,
)
from harness.golden._segments import read_segments, record_segments_command, write_segments
from harness.golden._store import (
    CPU_KIND,
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
    write_initial,
    write_trajectory,
)

__all__ = [
    "CPU_KIND",
    "ALPHA", "BAND_STDS", "ENVELOPE", "ENVELOPE_FILE", "ENVELOPE_META_FILE", "Envelope",
    "EnvelopeVerdict", "FileKind", "GoldenStore", "INITIAL", "INITIAL_FILE", "INITIAL_META_FILE",
    "META_FILE", "MetricVerdict", "OUTCOMES", "OutcomeTest", "OutcomeVerdict", "POWER",
    "SCHEMA_VERSION", "STATS", "STAT_TEST", "TRAJECTORY", "TRAJECTORY_FILE", "Where",
    "atomic_write", "band", "build_envelope", "classify", "compare_outcomes", "csv_text",
    "detectable_shift", "envelope_files", "epoch_ranges", "initial_files", "meta_text",
    "npz_bytes", "outcome_message", "outcomes_of", "rank_test_p", "read_envelope",
    "read_segments", "record_command", "record_envelope_command", "record_initial_command",
    "record_segments_command", "rerecord_note", "trajectory_files", "verdict_message",
    "write_envelope", "write_initial", "write_segments", "write_trajectory",
]
