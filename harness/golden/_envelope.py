"""Seed envelopes: per-epoch mean, std, min and max of each metric over N seeds, stored
as ``envelope.csv`` + ``envelope.json`` beside the single-seed golden (through the codec),
with each seed's outcomes (final figure, area); the band test that classifies a run as
inside (noise) or outside (regression). The outcomes' two-sample test is ``_outcomes``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import UsageError
from harness.golden import _codec
from harness.golden._codec import FileKind, Where
from harness.golden._store import GoldenStore
from harness.interface import Tolerance, Trajectory, tolerance_for

ENVELOPE = FileKind("seed envelope", "envelope.csv", "envelope.json", "envelope_sha256",
                    ("port", "profile", "seeds", "metrics", "num_epochs"))
ENVELOPE_FILE, ENVELOPE_META_FILE = ENVELOPE.data, ENVELOPE.meta
ENVELOPE_SCHEMA_VERSION = ENVELOPE.schema
STATS = ("mean", "std", "min", "max")
#: The band is the wider of [min, max] and mean +- BAND_STDS * std at each epoch: with a
#: few seeds the sample range underestimates the spread, with many the range is wider.
BAND_STDS = 3.0
#: What each seed's run comes to, per metric: its last epoch's figure, and the area under
#: its trajectory (the mean over epochs), which also sees a change the run later recovers from.
OUTCOMES = ("final", "area")


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


def outcomes_of(runs: Sequence[Mapping[str, np.ndarray]], metrics: Sequence[str]
                ) -> dict[str, dict[str, np.ndarray]]:
    """Per metric, each run's final figure and area (mean over epochs), one float per run."""
    table = {m: [np.asarray(r[m], dtype=np.float64) for r in runs] for m in metrics}
    return {m: {"final": np.array([v[-1] for v in rows]),
                "area": np.array([v.mean() for v in rows])} for m, rows in table.items()}


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


# ---------------------------------------------------------------- the band test


@dataclass(frozen=True)
class MetricVerdict:
    """One metric of a run against the envelope's band."""

    metric: str
    obtained: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    outside: tuple[int, ...]

    @property
    def inside(self) -> bool:
        return not self.outside


@dataclass(frozen=True)
class EnvelopeVerdict:
    """A run classified against a seed envelope."""

    port_id: str
    profile: str
    seeds: int
    metrics: tuple[MetricVerdict, ...]
    obtained_epochs: int
    expected_epochs: int

    @property
    def inside(self) -> bool:
        return self.obtained_epochs == self.expected_epochs and all(m.inside for m in self.metrics)

    @property
    def outside_epochs(self) -> tuple[int, ...]:
        """Every epoch where some metric leaves the band (sorted)."""
        return tuple(sorted({e for m in self.metrics for e in m.outside}))


def band(stats: Mapping[str, np.ndarray], tol: Tolerance, k: float = BAND_STDS
         ) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) per epoch: the wider of [min, max] and mean +- k std, widened by the
    spec's single-seed tolerance so a rerun of a recorded seed is always inside."""
    lower = np.minimum(stats["min"], stats["mean"] - k * stats["std"])
    upper = np.maximum(stats["max"], stats["mean"] + k * stats["std"])
    return (lower - (tol.atol + tol.rtol * np.abs(lower)),
            upper + (tol.atol + tol.rtol * np.abs(upper)))


def classify(run: Trajectory, env: Envelope, tolerances: Mapping[str, Tolerance],
             k: float = BAND_STDS) -> EnvelopeVerdict:
    """Inside the envelope at every epoch, or not (and where). Every epoch is gated: the
    envelope measures the late-training spread a single-seed ``horizon`` gives up on."""
    verdicts = []
    n = min(run.num_epochs, env.num_epochs)
    for metric in env.metrics:
        stats = {s: v[:n] for s, v in env.stats[metric].items()}
        lower, upper = band(stats, tolerance_for(tolerances, metric), k)
        values = np.asarray(run.metrics[metric][:n], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero(~((values >= lower) & (values <= upper)))  # NaN is outside
        verdicts.append(MetricVerdict(metric, values, lower, upper, tuple(int(e) for e in bad)))
    return EnvelopeVerdict(run.port_id, run.profile, len(env.seeds), tuple(verdicts),
                           run.num_epochs, env.num_epochs)


def epoch_ranges(epochs: Sequence[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"``."""
    groups: list[list[int]] = []
    for e in epochs:
        if groups and e == groups[-1][-1] + 1:
            groups[-1].append(e)
        else:
            groups.append([e])
    return ", ".join(str(g[0]) if len(g) == 1 else f"{g[0]}-{g[-1]}" for g in groups)


def verdict_message(verdict: EnvelopeVerdict, path: object, rows: int = 20) -> str:
    """Where the run leaves the envelope: the epochs, then obtained against the band."""
    lines = [f"Regression: {verdict.port_id} ({verdict.profile}) leaves its {verdict.seeds}-seed "
             f"envelope at epoch(s) {epoch_ranges(verdict.outside_epochs) or '-'}.",
             f"  envelope: {path}"]
    if verdict.obtained_epochs != verdict.expected_epochs:
        lines.append(f"  epochs: obtained {verdict.obtained_epochs}, "
                     f"envelope {verdict.expected_epochs}")
    for m in verdict.metrics:
        lines += [f"  {m.metric}: epoch {e}: obtained {float(m.obtained[e])!r}, band "
                  f"[{m.lower[e]:.6g}, {m.upper[e]:.6g}]" for e in m.outside[:rows]]
    lines.append("Fix: a run outside the spread of seeds is more than rounding noise: find "
                 "the change. If it is deliberate, re-record the envelope and the golden.")
    return "\n".join(lines)

