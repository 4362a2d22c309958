"""Seed envelopes: per-epoch mean, std, min and max of each metric over N seeds, stored
as ``envelope.csv`` + ``envelope.json`` beside the single-seed golden (through the codec),
with each seed's outcomes (final figure, area); the band test that classifies a run as
inside (noise) or outside (regression); the two-sample test of K new seeds' outcomes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import FrameworkMissingError, UsageError
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


# ---------------------------------------------------------------- the two-sample test

#: One port's statistical verdict falsely says "shifted" at most this often where seeds'
#: outcomes are independent (off the recording machine, after chaos): Bonferroni over its
#: tests (each metric's final figure and area), each run at ``ALPHA / tests``.
ALPHA = 0.01
#: The power at which the stated smallest detectable shift is detected.
POWER = 0.8
#: Seed outcomes are skewed (a few seeds train much worse: elman_sine's chaotic ones), so
#: a rank test, not a t-test that assumes normal outcomes.
STAT_TEST = "two-sided Mann-Whitney U"


def _scipy_stats() -> Any:
    try:
        from scipy import stats
    except ImportError:
        raise FrameworkMissingError(
            "The statistical envelope verdict needs scipy, which is not installed here.",
            context={"module": "scipy.stats"},
            fix="pip install 'rnn-harness[stats]' (the per-epoch band needs no scipy).") from None
    return stats


def rank_test_p(recorded: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The two-sided Mann-Whitney U p-value of ``new`` against ``recorded`` along the last
    axis (normal approximation with tie and continuity corrections: identical samples
    give p = 1). A non-finite new outcome gives NaN, which counts as a shift."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = _scipy_stats().mannwhitneyu(recorded, new, axis=-1, method="asymptotic").pvalue
    return np.asarray(p, dtype=np.float64)


def detectable_shift(recorded: np.ndarray, k: int, alpha: float, power: float = POWER,
                     reps: int = 400) -> float:
    """The smallest shift of every new outcome that the test at ``alpha`` detects with
    ``power``, by simulation from the recorded seed spread: both samples are drawn (with
    replacement) from the recorded outcomes as if their seeds were independent, the new
    one shifted. Same seeds on the same machine detect smaller shifts than this. Infinite
    where N and K are too small for any p below ``alpha``."""
    finite = recorded[np.isfinite(recorded)]
    if finite.size < 2 or np.ptp(finite) == 0:
        return 0.0
    rng = np.random.default_rng(0)  # the same draws for every shift: power grows with it
    old = rng.choice(finite, size=(reps, len(recorded)))
    new = rng.choice(finite, size=(reps, k))

    def detected(shift: float) -> bool:
        return float(np.mean(rank_test_p(old, new + shift) < alpha)) >= power

    hi = float(np.std(finite, ddof=1))
    for _ in range(64):
        if detected(hi):
            break
        hi *= 2
    else:  # past every recorded value: too few seeds for any p below alpha
        return float("inf")
    lo = 0.0
    for _ in range(12):  # to 1/4096 of the bracket
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if detected(mid) else (mid, hi)
    return hi


@dataclass(frozen=True)
class OutcomeTest:
    """One outcome of one metric: the envelope's N recorded seeds against K new runs."""

    metric: str
    outcome: str
    recorded: np.ndarray
    new: np.ndarray
    p: float
    alpha: float
    detectable: float

    @property
    def shift(self) -> float:
        """The Hodges-Lehmann shift (the median of every new - recorded difference): the
        location shift the rank test judges."""
        return float(np.median(self.new[:, None] - self.recorded[None, :]))

    @property
    def relative(self) -> float:
        """The shift over the recorded median's size (NaN where that is 0)."""
        median = abs(float(np.median(self.recorded)))
        return self.shift / median if median else float("nan")

    @property
    def shifted(self) -> bool:
        return not self.p >= self.alpha  # a NaN p (a non-finite outcome) is a shift

    def describe(self) -> str:
        return (f"{self.metric} {self.outcome}: recorded median "
                f"{float(np.median(self.recorded)):.6g} ({self.recorded.size} seeds), new "
                f"median {float(np.median(self.new)):.6g} ({self.new.size} seeds): shift "
                f"{self.shift:+.3g} ({self.relative:+.1%}), p = {self.p:.2g} (alpha "
                f"{self.alpha:.2g}; detects {self.detectable:.3g} at {POWER:.0%} power)")


@dataclass(frozen=True)
class OutcomeVerdict:
    """K new seeds' outcomes against the envelope's N: the same distribution, or shifted."""

    port_id: str
    profile: str
    tests: tuple[OutcomeTest, ...]
    alpha: float

    @property
    def same(self) -> bool:
        return not any(t.shifted for t in self.tests)

    @property
    def p(self) -> float:
        """The smallest p over the port's tests (each judged at ``alpha / tests``)."""
        return min((t.p for t in self.tests), default=1.0)

    def summary(self) -> str:
        """``same distribution (p = ...)`` or ``shifted by x (...) in <metric> <outcome>``."""
        if self.same:
            return f"same distribution (p = {self.p:.2g})"
        worst = min((t for t in self.tests if t.shifted), key=lambda t: (t.p, t.metric))
        return (f"shifted by {worst.shift:+.3g} ({worst.relative:+.1%}) in {worst.metric} "
                f"{worst.outcome} (p = {worst.p:.2g})")


def compare_outcomes(env: Envelope, new: Mapping[str, Mapping[str, np.ndarray]],
                     alpha: float = ALPHA) -> OutcomeVerdict | None:
    """The rank test of each metric's final figure and area, new against recorded; None
    where the envelope stores no per-seed outcomes (recorded before they were)."""
    if env.outcomes is None:
        return None
    pairs = [(m, o) for m in env.metrics for o in OUTCOMES]
    each = alpha / len(pairs)
    tests = []
    for metric, outcome in pairs:
        old = env.outcomes[metric][outcome]
        mine = np.asarray(new[metric][outcome], dtype=np.float64)
        p = float(rank_test_p(old, mine))
        tests.append(OutcomeTest(metric, outcome, old, mine, p, each,
                                 detectable_shift(old, mine.size, each)))
    return OutcomeVerdict(env.port_id, env.profile, tuple(tests), alpha)


def outcome_message(verdict: OutcomeVerdict, path: object) -> str:
    """Why the new seeds' outcomes are judged shifted: every test, obtained against recorded."""
    n = {t.recorded.size for t in verdict.tests}
    k = {t.new.size for t in verdict.tests}
    lines = [f"Regression: {verdict.port_id} ({verdict.profile}): the outcomes of "
             f"{'/'.join(map(str, k))} new seeds are {verdict.summary()} against the "
             f"{'/'.join(map(str, n))} seeds of its envelope ({STAT_TEST}, alpha "
             f"{verdict.alpha:g} per port).", f"  envelope: {path}"]
    lines += [f"  {'SHIFTED ' if t.shifted else ''}{t.describe()}" for t in verdict.tests]
    lines.append("Fix: the distribution of what training comes to has moved, beyond what the "
                 "spread of seeds explains: find the change. If it is deliberate, re-record "
                 "the envelope and the golden.")
    return "\n".join(lines)


def rerecord_note(port_id: str, profile: str, seeds: int) -> str:
    """What an envelope without per-seed outcomes says instead of a statistical verdict."""
    return (f"{port_id} ({profile}): its envelope stores no per-seed outcomes (recorded before "
            f"they were), so only its band is judged; re-record the envelope for the "
            f"statistical verdict: {record_envelope_command(port_id, profile, seeds)}")
