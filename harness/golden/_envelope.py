"""Seed envelopes: per-epoch mean, std, min and max of each metric over N seeds, stored
as ``envelope.csv`` + ``envelope.json`` beside the single-seed golden (through the codec),
with each seed's outcomes (final figure, area). The band test and the outcomes' two-sample
test are comparison math: ``harness.compare``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.compare._envelope import OUTCOMES, outcomes_of
from harness.errors import UsageError
from harness.golden import _codec
from harness.golden._codec import FileKind, Where
from harness.golden._store import GoldenStore

ENVELOPE = FileKind("seed envelope", "envelope.csv", "envelope.json", "envelope_sha256",
                    ("port", "profile", "seeds", "metrics", "num_epochs"))
ENVELOPE_FILE, ENVELOPE_META_FILE = ENVELOPE.data, ENVELOPE.meta
ENVELOPE_SCHEMA_VERSION = ENVELOPE.schema
STATS = ("mean", "std", "min", "max")


def record_envelope_command(port_id: str, profile: str, seeds: int = 32) -> str:
    return f"rnn-harness record {port_id} --profile {profile} --seeds {seeds}"


@dataclass(frozen=True)
class Envelope:
    """Per-epoch statistics over seeds: ``stats[metric][stat]`` is one float per epoch."""

    port_id: str
    profile: str
    seeds: tuple[int, ...]
    stats: dict[str, dict[str, np.ndarray]]
    meta: dict[str, Any] = field(default_factory=dict)
    #: ``outcomes[metric][outcome]``: one float per seed, in ``seeds`` order; None in an
    #: envelope recorded before they were stored.
    outcomes: dict[str, dict[str, np.ndarray]] | None = None

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.stats)

    @property
    def num_epochs(self) -> int:
        return len(next(iter(next(iter(self.stats.values())).values())))


def build_envelope(port_id: str, profile: str, seeds: Sequence[int],
                   runs: Sequence[Mapping[str, np.ndarray]], meta: Mapping[str, Any] | None = None
                   ) -> Envelope:
    """Statistics of ``runs`` (one ``{metric: per-epoch array}`` per seed); std has ddof=1."""
    if len(runs) < 2 or len(runs) != len(seeds):
        raise UsageError("An envelope needs at least two seeds, one run per seed.",
                         context={"seeds": len(seeds), "runs": len(runs)},
                         fix="pass --seeds N with N >= 2.")
    stats = {}
    for metric in runs[0]:
        table = np.stack([np.asarray(r[metric], dtype=np.float64) for r in runs])  # (S, E)
        stats[metric] = {"mean": table.mean(0), "std": table.std(0, ddof=1),
                         "min": table.min(0), "max": table.max(0)}
    return Envelope(port_id, profile, tuple(seeds), stats, dict(meta or {}),
                    outcomes_of(runs, tuple(stats)))


def _outcomes_json(outcomes: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, Any]:
    return {m: {o: [float(x) for x in outcomes[m][o]] for o in OUTCOMES} for m in outcomes}


def _outcomes_sha(outcomes: Mapping[str, Any]) -> str:
    """The SHA-256 of the outcomes' canonical JSON: they live in the meta, which the CSV's
    checksum does not cover, and a hand edit must not pass for a recorded sample."""
    return _codec.sha256(json.dumps(outcomes, sort_keys=True).encode())


def envelope_files(env: Envelope) -> tuple[str, dict[str, Any]]:
    """(CSV text, meta): ``epoch`` then ``<metric>_<stat>`` columns."""
    columns = {f"{m}_{s}": env.stats[m][s] for m in env.metrics for s in STATS}
    meta = {**env.meta, "port": env.port_id, "profile": env.profile, "seeds": list(env.seeds),
            "metrics": list(env.metrics), "stats": list(STATS), "std_ddof": 1,
            "num_epochs": env.num_epochs}
    if env.outcomes is not None:
        # optional keys: an envelope without them still reads (its band is still judged)
        outcomes = _outcomes_json(env.outcomes)
        meta.update(outcomes=outcomes, outcomes_sha256=_outcomes_sha(outcomes))
    return _codec.csv_text(columns, env.num_epochs), meta


def write_envelope(store: GoldenStore, env: Envelope) -> Path:
    """Write ``envelope.csv`` then ``envelope.json`` (holding the CSV's SHA-256) into the
    golden folder, which is replaced as a whole."""
    text, meta = envelope_files(env)
    with store.replacing(env.port_id, env.profile) as staged:
        _codec.write(staged, ENVELOPE, text, meta)
    return store.path(env.port_id, env.profile)


def read_envelope(store: GoldenStore, port_id: str, profile: str) -> Envelope:
    """Read and verify an envelope; a missing or broken one raises a ``GoldenError``."""
    folder = store.live(port_id, profile)
    where = Where(port_id, profile, record_envelope_command(port_id, profile))

    def decode(raw: bytes, meta: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
        header = ["epoch", *(f"{m}_{s}" for m in meta["metrics"] for s in STATS)]
        col = _codec.csv_columns(raw.decode("utf-8"), header, meta["num_epochs"],
                                 folder / ENVELOPE.data, ENVELOPE, where)
        return {m: {s: col[f"{m}_{s}"] for s in STATS} for m in meta["metrics"]}

    stats, meta = _codec.read(folder, ENVELOPE, where, decode)
    return Envelope(port_id, profile, tuple(meta["seeds"]), stats, meta,
                    _read_outcomes(meta, folder, where))


def _read_outcomes(meta: dict[str, Any], folder: Path, where: Where
                   ) -> dict[str, dict[str, np.ndarray]] | None:
    """The stored per-seed outcomes, verified against their checksum; None where the
    envelope predates them."""
    if "outcomes" not in meta:
        return None
    raw = meta["outcomes"]
    path = folder / ENVELOPE.meta
    if meta.get("outcomes_sha256") != _outcomes_sha(raw):
        raise where.corrupt(path, ENVELOPE, "its per-seed outcomes differ from the SHA-256 "
                            "it recorded for them (edited by hand)")
    try:
        outcomes = {m: {o: np.asarray(raw[m][o], dtype=np.float64) for o in OUTCOMES}
                    for m in meta["metrics"]}
    except (KeyError, TypeError, ValueError):
        raise where.corrupt(path, ENVELOPE, "its per-seed outcomes are not one list of "
                            f"numbers per metric and outcome ({', '.join(OUTCOMES)})") from None
    if any(v.shape != (len(meta["seeds"]),) for o in outcomes.values() for v in o.values()):
        raise where.corrupt(path, ENVELOPE, "its per-seed outcomes do not hold one value per "
                            "seed")
    return outcomes
