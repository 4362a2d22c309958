"""How far two arrays are apart under a tolerance: the worst element and both differences
(the pass/fail math itself is ``harness.interface.within``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.interface import Tolerance, within


@dataclass(frozen=True)
class Gap:
    """How far ``obtained`` is from ``expected``: worst absolute and relative gap and where."""

    abs_err: float
    rel_err: float
    index: tuple[int, ...]
    obtained: float
    expected: float
    ok: bool


def gap(obtained: Any, expected: Any, tol: Tolerance) -> Gap:
    """The worst element: the largest difference among those outside ``tol`` (or overall,
    when every element is within it)."""
    a = np.asarray(obtained, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        return Gap(np.inf, np.inf, (), np.nan, np.nan, False)
    if a.size == 0:
        return Gap(0.0, 0.0, (), 0.0, 0.0, True)
    inside = within(a, b, tol)
    with np.errstate(invalid="ignore"):
        diff = np.abs(a - b)
    ok = bool(np.all(inside))
    # NaN counts as the largest difference (argmax returns the first NaN)
    candidates = diff if ok else np.where(inside, -np.inf, diff)
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(candidates)), a.shape))
    scale = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore"):
        rel = diff / np.where(scale > 0, scale, 1.0)
    return Gap(float(np.max(diff)), float(np.max(rel)), index, float(a[index]),
               float(b[index]), ok)


def gap_lines(g: Gap, tol: Tolerance) -> dict[str, object]:
    """Context lines for a message: obtained vs expected with both differences."""
    return {"at index": g.index, "obtained": f"{g.obtained:.9g}",
            "expected": f"{g.expected:.9g}",
            "abs diff": f"{g.abs_err:.3g}", "rel diff": f"{g.rel_err:.3g}",
            "tolerance": f"rtol {tol.rtol:g}, atol {tol.atol:g}"}
