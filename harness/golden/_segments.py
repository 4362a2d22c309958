"""Checkpoint segments in the golden store, beside a tutorial golden:

``<golden>/segments/<start>/checkpoint.npz|.json``  the complete training state after
``start`` epochs (float32, compressed), its RNG state and counters in the JSON;
``<golden>/segments/<start>/epochs.csv|.json``  the golden run's next epochs;
``<golden>/segments/<start>/steps.csv|.json``   every step of those epochs.
Every pair goes through the one codec (SHA-256, schema, atomic writes, no pickle); the
segments are replaced together, with the golden folder they live in (``_swap``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from harness.golden import _codec
from harness.golden._codec import FileKind, Where
from harness.golden._store import GoldenStore
from harness.interface import Checkpoint, Segment

Columns = dict[str, np.ndarray]

SEGMENTS_DIR = "segments"
CHECKPOINT = FileKind("checkpoint", "checkpoint.npz", "checkpoint.json", "arrays_sha256",
                      ("port", "profile", "seed", "config_hash", "epoch", "scalars", "arrays"))
EPOCHS = FileKind("segment continuation", "epochs.csv", "epochs.json", "csv_sha256",
                  ("port", "profile", "start", "length", "columns"))
STEPS = FileKind("segment steps", "steps.csv", "steps.json", "csv_sha256",
                 ("port", "profile", "start", "columns", "rows"))
#: the pairs of one segment folder, in the order a reader verifies them
SEGMENT_KINDS = (CHECKPOINT, EPOCHS, STEPS)
#: checkpoints are stored as float32, every array checked to lose nothing in the cast
CHECKPOINT_DTYPE = np.float32
#: the per-step CSV's position columns (``epoch`` is the codec's row index there)
_STEP_POSITION = {"epoch": "at_epoch", "step": "at_step"}


def record_segments_command(port_id: str) -> str:
    return f"rnn-harness record {port_id} --profile tutorial --segments-only"


def segments_root(store: GoldenStore, port_id: str, profile: str) -> Path:
    return store.path(port_id, profile) / SEGMENTS_DIR


def _where(port_id: str, profile: str) -> Where:
    return Where(port_id, profile, record_segments_command(port_id))


def write_segments(store: GoldenStore, port_id: str, profile: str, segments: list[Segment],
                   meta: dict[str, Any]) -> Path:
    """Replace the golden's segments by ``segments`` (``meta``: seed and config_hash of the
    golden run), all at once: a reader sees the old set or the new one."""
    with store.replacing(port_id, profile) as staged:
        shutil.rmtree(staged / SEGMENTS_DIR, ignore_errors=True)
        for seg in segments:
            _write_one(staged / SEGMENTS_DIR / f"{seg.start:04d}", seg, port_id, profile, meta)
    return segments_root(store, port_id, profile)


def _write_one(folder: Path, seg: Segment, port_id: str, profile: str, meta: dict[str, Any]
               ) -> None:
    ident = {**meta, "port": port_id, "profile": profile}
    arrays = _float32(seg.checkpoint.arrays, port_id)
    _codec.write(folder, CHECKPOINT, _codec.npz_bytes(arrays),
                 {**ident, "epoch": seg.checkpoint.epoch, "scalars": seg.checkpoint.scalars,
                  "arrays": {k: list(v.shape) for k, v in arrays.items()}})
    _codec.write(folder, EPOCHS, _codec.csv_text(seg.epochs, seg.length),
                 {**ident, "start": seg.start, "length": seg.length,
                  "columns": list(seg.epochs)})
    steps = {_STEP_POSITION.get(k, k): v for k, v in seg.steps.items()}
    rows = len(next(iter(steps.values()))) if steps else 0
    _codec.write(folder, STEPS, _codec.csv_text(steps, rows),
                 {**ident, "start": seg.start, "columns": list(steps), "rows": rows})


def _float32(arrays: dict[str, np.ndarray], port_id: str) -> dict[str, np.ndarray]:
    out = {}
    for name, value in arrays.items():
        cast = np.asarray(value).astype(CHECKPOINT_DTYPE)
        if not np.array_equal(cast, value):
            raise ValueError(f"{port_id}: checkpoint array {name} is not exactly float32; "
                             "a float32 checkpoint would not restore exactly")
        out[name] = cast
    return out


def read_segments(store: GoldenStore, port_id: str, profile: str) -> list[Segment]:
    """Every stored segment, verified, in start order (empty when none is recorded)."""
    where = _where(port_id, profile)
    return [_read_one(folder, where) for folder in segment_folders(store.live(port_id, profile))]


def segment_folders(golden: Path) -> list[Path]:
    """The ``segments/<start>`` folders of a golden folder, in start order; only those:
    anything else there (a stray copy, a hidden folder) is not a segment."""
    root = golden / SEGMENTS_DIR
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit())


def _read_one(folder: Path, where: Where) -> Segment:
    def arrays(raw: bytes, meta: dict[str, Any]) -> dict[str, np.ndarray]:
        found = _codec.npz_arrays(raw, folder / CHECKPOINT.data, CHECKPOINT, where)
        if {k: list(v.shape) for k, v in found.items()} != meta["arrays"]:
            raise where.corrupt(folder / CHECKPOINT.data, CHECKPOINT,
                                f"its arrays differ from those {CHECKPOINT.meta} lists")
        return found

    ckpt_arrays, ckpt_meta = _codec.read(folder, CHECKPOINT, where, arrays)

    def columns(kind: FileKind, rows_key: str) -> tuple[Columns, dict[str, Any]]:
        def decode(raw: bytes, meta: dict[str, Any]) -> Columns:
            return _codec.csv_columns(raw.decode("utf-8"), ["epoch", *meta["columns"]],
                                      meta[rows_key], folder / kind.data, kind, where)
        cols, meta = _codec.read(folder, kind, where, decode)
        return {k: v for k, v in cols.items() if k != "epoch"}, meta

    epochs, emeta = columns(EPOCHS, "length")
    steps, _ = columns(STEPS, "rows")
    steps = {({v: k for k, v in _STEP_POSITION.items()}).get(k, k): v for k, v in steps.items()}
    ckpt = Checkpoint(int(ckpt_meta["epoch"]), ckpt_arrays, dict(ckpt_meta["scalars"]))
    return Segment(int(emeta["start"]), int(emeta["length"]), ckpt, epochs, steps,
                   {"seed": ckpt_meta["seed"], "config_hash": ckpt_meta["config_hash"]})
