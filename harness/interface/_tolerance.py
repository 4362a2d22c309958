"""Tolerances and the one place their math lives: the symmetric allclose, relative error,
and the "this metric's tolerance, else the default" lookup."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """``|a - b| <= atol + rtol * max(|a|, |b|)``: numpy's allclose made symmetric."""

    rtol: float
    atol: float = 0.0
    why: str = ""
    #: Epochs from ``horizon`` on are reported but not gated (chaotic divergence late in
    #: training, where cross-machine rounding noise outgrows any useful tolerance).
    horizon: int | None = None

    def gated(self, n: int) -> int:
        """How many of ``n`` epochs this tolerance gates."""
        return n if self.horizon is None else min(n, self.horizon)


def tolerance_for(tolerances: Mapping[str, Tolerance], metric: str) -> Tolerance:
    """``metric``'s own tolerance, else the table's ``default``."""
    tol = tolerances.get(metric) or tolerances.get("default")
    if tol is None:
        raise KeyError(f"no tolerance for {metric!r} and no 'default' in {sorted(tolerances)}")
    return tol


def within(obtained: np.ndarray, expected: np.ndarray, tol: Tolerance) -> np.ndarray:
    """Elementwise ``|a - b| <= atol + rtol * max(|a|, |b|)``; NaN or inf never passes
    unless both sides are the same infinity."""
    a, b = np.asarray(obtained, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        close = np.abs(a - b) <= tol.atol + tol.rtol * np.maximum(np.abs(a), np.abs(b))
    return close | ((a == b) & np.isinf(a))


def relative_error(obtained: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """``|a - b| / |b|`` (0 where both are equal, inf where only b is 0)."""
    a, b = np.asarray(obtained, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    diff = np.abs(a - b)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.abs(b))
    return rel
