"""Tolerances and the one place their math lives: the symmetric allclose, relative error,
and the "this quantity's tolerance, else its table's fallback" lookup.

One tolerance table (``name -> Tolerance``) holds a tutorial's figures (falling back to
``default``), its training observables (falling back to ``observables``; ungated without
either) and its outputs (``output:<name>``, no fallback: an output is compared only where
the spec names it)."""

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
    #: training, where cross-machine rounding noise outgrows any useful tolerance); an
    #: output (shown after the last epoch) is compared only in runs of at most ``horizon``
    #: epochs.
    horizon: int | None = None

    def gated(self, n: int) -> int:
        """How many of ``n`` epochs this tolerance gates."""
        return n if self.horizon is None else min(n, self.horizon)


#: The fallback entry of the tutorial's own figures.
DEFAULT = "default"
#: The fallback entry of the training observables (never ``default``: their scale differs).
OBSERVABLES = "observables"
#: Prefix of an output's entry: ``output:predictions`` gates ``outputs["predictions"]``.
OUTPUT = "output:"


def find_tolerance(tolerances: Mapping[str, Tolerance], name: str,
                   fallback: str | None = None) -> Tolerance | None:
    """``name``'s own tolerance, else the ``fallback`` entry, else None (not gated)."""
    tol = tolerances.get(name)
    if tol is None and fallback is not None:
        tol = tolerances.get(fallback)
    return tol


def tolerance_for(tolerances: Mapping[str, Tolerance], metric: str) -> Tolerance:
    """``metric``'s own tolerance, else the table's ``default``."""
    tol = find_tolerance(tolerances, metric, DEFAULT)
    if tol is None:
        raise KeyError(f"no tolerance for {metric!r} and no 'default' in {sorted(tolerances)}")
    return tol


def observable_tolerance(tolerances: Mapping[str, Tolerance], name: str) -> Tolerance | None:
    """An observable's tolerance (its own, else ``observables``), or None: not gated."""
    return find_tolerance(tolerances, name, OBSERVABLES)


def output_tolerance(tolerances: Mapping[str, Tolerance], name: str) -> Tolerance | None:
    """The tolerance of output ``name`` (entry ``output:<name>``), or None: not compared."""
    return find_tolerance(tolerances, OUTPUT + name)


def within(obtained: np.ndarray, expected: np.ndarray, tol: Tolerance) -> np.ndarray:
    """Elementwise ``|a - b| <= atol + rtol * max(|a|, |b|)``; NaN or inf never passes
    unless both sides are the same infinity."""
    a, b = np.asarray(obtained, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        close = np.abs(a - b) <= tol.atol + tol.rtol * np.maximum(np.abs(a), np.abs(b))
    # |inf - x| <= rtol * inf would pass: an infinity is close only to the same infinity
    return (close & np.isfinite(a) & np.isfinite(b)) | ((a == b) & np.isinf(a))


def relative_error(obtained: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """``|a - b| / |b|`` (0 where both are equal, inf where only b is 0)."""
    a, b = np.asarray(obtained, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    diff = np.abs(a - b)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.abs(b))
    return rel
