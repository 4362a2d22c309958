"""The golden store: files only. The one file codec (CSV/NPZ + JSON meta + SHA-256 +
schema), atomic folder swaps, locks; trajectories, initial weights, checkpoint segments and
seed envelopes (with the envelope's band and rank-test arithmetic, pending their move to
``harness.compare``). What a golden means for a run (the gate, the segments' replay, the
one check) is ``harness.check``'s."""

from harness.golden._codec import FileKind, Where, atomic_write, csv_text, meta_text, npz_bytes
from harness.golden._envelope import (
    ENVELOPE,
    ENVELOPE_FILE,
    ENVELOPE_META_FILE,
    STATS,
    Envelope,
    build_envelope,
    envelope_files,
    read_envelope,
    record_envelope_command,
    write_envelope,
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
    "CPU_KIND", "ENVELOPE", "ENVELOPE_FILE", "ENVELOPE_META_FILE", "Envelope", "FileKind",
    "GoldenStore", "INITIAL", "INITIAL_FILE", "INITIAL_META_FILE", "META_FILE", "SCHEMA_VERSION",
    "STATS", "TRAJECTORY", "TRAJECTORY_FILE", "Where", "atomic_write", "build_envelope",
    "csv_text", "envelope_files", "initial_files", "meta_text", "npz_bytes", "read_envelope",
    "read_segments", "record_command", "record_envelope_command", "record_initial_command",
    "record_segments_command", "trajectory_files", "write_envelope", "write_initial",
    "write_segments", "write_trajectory",
]
