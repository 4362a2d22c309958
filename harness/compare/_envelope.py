"""Seed envelopes, compared: a run against the per-epoch band of N seeds (inside: noise;
outside: a regression, and where), and each seed's outcomes (final figure, area)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from harness.interface import Tolerance, Trajectory, tolerance_for

if TYPE_CHECKING:
    from harness.golden import Envelope

#: The band is the wider of [min, max] and mean +- BAND_STDS * std at each epoch: with a
#: few seeds the sample range underestimates the spread, with many the range is wider.
BAND_STDS = 3.0
#: What each seed's run comes to, per metric: its last epoch's figure, and the area under
#: its trajectory (the mean over epochs), which also sees a change the run later recovers from.
OUTCOMES = ("final", "area")


def outcomes_of(runs: Sequence[Mapping[str, np.ndarray]], metrics: Sequence[str]
                ) -> dict[str, dict[str, np.ndarray]]:
    """Per metric, each run's final figure and area (mean over epochs), one float per run."""
    table = {m: [np.asarray(r[m], dtype=np.float64) for r in runs] for m in metrics}
    return {m: {"final": np.array([v[-1] for v in rows]),
                "area": np.array([v.mean() for v in rows])} for m, rows in table.items()}


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
