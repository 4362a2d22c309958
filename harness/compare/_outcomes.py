"""The outcome test of a seed envelope: K new seeds' final figure and area against the N
recorded ones, by a two-sample rank test, and the smallest shift it detects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.compare._envelope import OUTCOMES
from harness.errors import FrameworkMissingError

if TYPE_CHECKING:
    from harness.golden import Envelope

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
