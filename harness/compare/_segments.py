"""A checkpoint segment's replay against its stored continuation, per epoch and per step
(the first divergence, the largest relative error), and how far any quantity is from its
tolerance (``worst / tol``: the check table's figure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.compare._trajectory import (
    Columns,
    Comparison,
    MetricComparison,
    format_pair,
    is_number,
    leaves,
)
from harness.interface import Tolerance, relative_error, tolerance_for, within


@dataclass(frozen=True)
class Divergence:
    """Where a segment first left its tolerance, and what was compared there."""

    epoch: int
    step: int | None
    quantity: str
    obtained: float
    expected: float
    others: tuple[tuple[str, float, float, bool], ...]

    def describe(self, start: int) -> str:
        where = f"epoch {self.epoch}" + ("" if self.step is None else f" step {self.step}")
        first = "{} {} vs golden {}".format(self.quantity,
                                            *format_pair(self.obtained, self.expected))
        rest = "; ".join("{} {} vs {} ({})".format(name, *format_pair(a, b),
                                                   "ok" if ok else "off")
                         for name, a, b, ok in self.others)
        return (f"first divergent: segment from epoch {start}, {where}: {first}"
                + (f"; {rest}" if rest else ""))


def first_divergence(obtained: Columns, expected: Columns, tolerances: Mapping[str, Tolerance],
                     quantities: Sequence[str], *, steps: bool, start: int = 0
                     ) -> Divergence | None:
    """The first row (and in it the first quantity, in ``quantities`` order) outside its
    tolerance; ``None`` when every row is within. Per-epoch rows count from ``start``; a
    side with fewer rows diverges at its first missing row (reported as NaN)."""
    n_exp = len(next(iter(expected.values())))
    n = min(n_exp, len(next(iter(obtained.values()))))
    present = [q for q in quantities if q in expected and q in obtained]
    bad_rows: dict[str, np.ndarray] = {}
    for q in present:
        ok = within(obtained[q][:n], expected[q][:n], tolerance_for(tolerances, q))
        bad = np.flatnonzero(~ok)
        bad_rows[q] = bad if bad.size or n == n_exp else np.array([n])
    hits = [(int(rows[0]), present.index(q), q) for q, rows in bad_rows.items() if rows.size]
    if not hits:
        return None
    row, _, quantity = min(hits)

    def value(cols: Columns, q: str) -> float:
        return float(cols[q][row]) if row < len(cols[q]) else float("nan")

    others = tuple((q, value(obtained, q), float(expected[q][row]),
                    bool(within(np.array([value(obtained, q)]), expected[q][row:row + 1],
                                tolerance_for(tolerances, q))[0]))
                   for q in present if q != quantity)
    epoch = int(expected["epoch"][row]) if steps else start + int(row)
    step = int(expected["step"][row]) if steps else None
    return Divergence(epoch, step, quantity, value(obtained, quantity),
                      float(expected[quantity][row]), others)


def _padded(obtained: np.ndarray, rows: int) -> np.ndarray:
    """``obtained`` as float64 over ``rows`` rows, a missing row NaN (a replay that stopped
    early diverged there, as ``first_divergence`` reports it)."""
    a = np.asarray(obtained, dtype=np.float64)[:rows]
    return np.concatenate([a, np.full(rows - len(a), np.nan)]) if len(a) < rows else a


def max_rel(obtained: Columns, expected: Columns) -> dict[str, float]:
    """Per column, the largest relative difference over the expected rows; NaN where either
    side holds a NaN or the obtained side lacks a row (never a 0 that hides one)."""
    out = {}
    for name, b in expected.items():
        if name in ("epoch", "step") or name not in obtained:
            continue
        rel = relative_error(_padded(obtained[name], len(b)), b)
        out[name] = float(np.max(rel, initial=0.0))  # np.max keeps a NaN; initial: no rows
    return out


# -- how far outside its tolerance: the figure a failure table shows ---------------------
def tolerance_ratio(obtained: Any, expected: Any, tol: Tolerance) -> np.ndarray:
    """Elementwise ``|a - b| / (atol + rtol * max(|a|, |b|))``, the error in units of what
    ``within`` allows (above 1: outside). 0 where both sides are equal; inf where they
    differ and nothing is allowed, or one side is infinite; NaN where either is NaN."""
    a = np.asarray(obtained, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.abs(a - b) / (tol.atol + tol.rtol * np.maximum(np.abs(a), np.abs(b)))
    ratio = np.where(np.isinf(a) | np.isinf(b), np.inf, ratio)
    ratio = np.where(a == b, 0.0, ratio)
    return np.where(np.isnan(a) | np.isnan(b), np.nan, ratio)


@dataclass(frozen=True)
class Worst:
    """The gated quantity farthest from its expected value in units of its tolerance:
    ``ratio`` above 1 left the tolerance, NaN is a NaN; at ``epoch`` (None: an output)."""

    ratio: float
    quantity: str
    epoch: int | None = None

    @property
    def outside(self) -> bool:
        return not self.ratio <= 1.0  # NaN is outside


def _rank(worst: Worst) -> tuple[bool, float]:
    return (bool(np.isnan(worst.ratio)), 0.0 if np.isnan(worst.ratio) else worst.ratio)


def worst_of(candidates: Sequence[Worst | None]) -> Worst | None:
    """The worst of ``candidates`` (a NaN is worse than any number), the first on a tie."""
    found = [w for w in candidates if w is not None]
    return max(found, key=_rank) if found else None


def worst_column(m: MetricComparison) -> Worst | None:
    """``m``'s largest tolerance ratio over its gated epochs (the first NaN, if any)."""
    gate = min(m.gated_epochs, len(m.expected))
    if not gate:
        return None
    ratio = tolerance_ratio(_padded(m.obtained, gate), m.expected[:gate], m.tolerance)
    nan = np.flatnonzero(np.isnan(ratio))
    epoch = int(nan[0]) if nan.size else int(np.argmax(ratio))
    return Worst(float(ratio[epoch]), m.metric, epoch)


def worst_output(name: str, obtained: Any, expected: Any, tol: Tolerance) -> Worst:
    """One output's largest tolerance ratio over its leaves (a text or other value that
    differs, or a leaf one side lacks: inf), named with the leaf's path."""
    worst = Worst(0.0, f"output {name}")
    for path, a, b in leaves(obtained, expected):
        if is_number(a) and is_number(b):
            ratio = float(tolerance_ratio(float(a), float(b), tol))
        else:
            ratio = 0.0 if a == b else float("inf")
        where = f"output {name}" + "".join(f"[{key!r}]" for key in path)
        worst = worst_of([worst, Worst(ratio, where)]) or worst
    return worst


def worst_ratio(comp: Comparison, obtained_outputs: Mapping[str, Any] | None = None,
                expected_outputs: Mapping[str, Any] | None = None) -> Worst | None:
    """The worst gated quantity of ``comp``: its per-epoch columns and, given both sides'
    outputs, the outputs it compared. None where nothing was gated."""
    found = [worst_column(m) for m in comp.columns]
    if obtained_outputs is not None and expected_outputs is not None:
        found += [worst_output(o.name, obtained_outputs.get(o.name),
                               expected_outputs.get(o.name), o.tolerance)
                  for o in comp.outputs]
    return worst_of(found)


def max_ratio(obtained: Columns, expected: Columns, tolerances: Mapping[str, Tolerance]
              ) -> dict[str, float]:
    """Per column, ``max_rel``'s rows in units of each column's tolerance (``tolerance_ratio``:
    above 1 left it); NaN where either side holds a NaN or the obtained side lacks a row."""
    out = {}
    for name, b in expected.items():
        if name in ("epoch", "step") or name not in obtained:
            continue
        ratio = tolerance_ratio(_padded(obtained[name], len(b)), b,
                                tolerance_for(tolerances, name))
        out[name] = float(np.max(ratio, initial=0.0))
    return out


def divergence_ratio(div: Divergence, tolerances: Mapping[str, Tolerance]) -> float:
    """How far outside its tolerance ``div``'s quantity was where it first left it."""
    return float(tolerance_ratio(div.obtained, div.expected,
                                 tolerance_for(tolerances, div.quantity)))
