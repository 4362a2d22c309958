"""Trajectory comparison: pure functions over numpy arrays, returning data (no I/O, no text)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.interface import Tolerance, Trajectory, relative_error, tolerance_for, within


@dataclass(frozen=True)
class MetricComparison:
    """How one metric column of a run compares with the expected one."""

    metric: str
    tolerance: Tolerance
    obtained: np.ndarray
    expected: np.ndarray
    passed: bool
    first_divergent_epoch: int | None
    max_abs_error: float
    max_rel_error: float
    worst_epoch: int | None

    @property
    def gated_epochs(self) -> int:
        n = min(len(self.obtained), len(self.expected))
        return self.tolerance.gated(n)


@dataclass(frozen=True)
class Comparison:
    """Result of comparing a run with its golden (or with another run)."""

    port_id: str
    profile: str
    metrics: tuple[MetricComparison, ...]
    obtained_epochs: int
    expected_epochs: int

    @property
    def length_ok(self) -> bool:
        return self.obtained_epochs == self.expected_epochs

    @property
    def passed(self) -> bool:
        return self.length_ok and all(m.passed for m in self.metrics)

    @property
    def first_divergent_epoch(self) -> int | None:
        epochs = [m.first_divergent_epoch for m in self.metrics
                  if m.first_divergent_epoch is not None]
        if not self.length_ok:
            epochs.append(min(self.obtained_epochs, self.expected_epochs))
        return min(epochs) if epochs else None

    @property
    def max_rel_error(self) -> float:
        return max((m.max_rel_error for m in self.metrics), default=0.0)


def compare_metric(metric: str, obtained: np.ndarray, expected: np.ndarray,
                   tol: Tolerance) -> MetricComparison:
    """Compare one column over the epochs both sides have (and the tolerance gates)."""
    n = min(len(obtained), len(expected))
    a, b = np.asarray(obtained[:n], np.float64), np.asarray(expected[:n], np.float64)
    gate = tol.gated(n)
    bad = np.flatnonzero(~within(a[:gate], b[:gate], tol))
    rel = relative_error(a[:gate], b[:gate])
    worst = int(np.nanargmax(np.where(np.isnan(rel), np.inf, rel))) if gate else None
    return MetricComparison(
        metric=metric, tolerance=tol, obtained=a, expected=b,
        passed=bad.size == 0,
        first_divergent_epoch=int(bad[0]) if bad.size else None,
        max_abs_error=float(np.max(np.abs(a[:gate] - b[:gate]), initial=0.0)),
        max_rel_error=float(np.max(rel, initial=0.0)),
        worst_epoch=worst,
    )


def compare_trajectories(obtained: Trajectory, expected: Trajectory, metrics: Sequence[str],
                         tolerances: Mapping[str, Tolerance], *, prefix: bool = False
                         ) -> Comparison:
    """Compare ``metrics`` of two trajectories with per-metric tolerances.

    ``tolerances`` needs an entry per metric or a ``default``. With ``prefix=True`` a
    shorter ``obtained`` is compared with the first epochs of ``expected`` (a ``ci`` run
    checked against the ``tutorial`` golden).
    """
    results = []
    for name in metrics:
        tol = tolerance_for(tolerances, name)
        results.append(compare_metric(name, obtained.metrics[name], expected.metrics[name], tol))
    expected_epochs = expected.num_epochs
    if prefix and obtained.num_epochs <= expected_epochs:
        expected_epochs = obtained.num_epochs
    return Comparison(obtained.port_id, obtained.profile, tuple(results),
                      obtained.num_epochs, expected_epochs)
