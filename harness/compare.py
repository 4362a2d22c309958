"""All comparison math: pure functions over numpy arrays, returning data (no I/O, no text).

A run is compared with its golden per epoch in the tutorial's own figures and, where both
sides recorded them and the spec gives them a tolerance, in the training observables; and
in the outputs the spec names (what the tutorial shows after training). A checkpoint
segment's replay is compared per epoch and per step with its stored continuation
(``first_divergence``, ``max_rel``); a failure's figure is its error in units of its
tolerance (``tolerance_ratio``, ``worst_ratio``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.interface import Tolerance, Trajectory, relative_error, tolerance_for, within
from harness.interface._tolerance import observable_tolerance, output_tolerance

#: A table by column: one value per epoch or per step.
Columns = dict[str, np.ndarray]

#: Where in an output a value sits: dict keys and list indices from the top.
Path = tuple[str | int, ...]


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
class OutputComparison:
    """How one output compares: every number within ``tolerance``, every text and other
    value equal. ``path`` locates the first element that is not (``char``: the first
    differing character of a text), with both sides' values there (None: missing)."""

    name: str
    tolerance: Tolerance
    passed: bool
    elements: int
    max_abs_error: float
    path: Path = ()
    char: int | None = None
    obtained: Any = None
    expected: Any = None


@dataclass(frozen=True)
class FirstDivergence:
    """The first epoch a gated column left its tolerance, and the first column (figures
    first, then observables) that did, with that epoch's other gated columns
    ``(name, obtained, expected, within)``."""

    epoch: int
    quantity: str
    obtained: float
    expected: float
    tolerance: Tolerance
    others: tuple[tuple[str, float, float, bool], ...]


@dataclass(frozen=True)
class Comparison:
    """Result of comparing a run with its golden (or with another run). ``metrics`` are
    the tutorial's own figures (what ``max_rel_error`` reports), ``observables`` the gated
    training observables, ``outputs`` the gated outputs."""

    port_id: str
    profile: str
    metrics: tuple[MetricComparison, ...]
    obtained_epochs: int
    expected_epochs: int
    observables: tuple[MetricComparison, ...] = ()
    outputs: tuple[OutputComparison, ...] = ()

    @property
    def length_ok(self) -> bool:
        return self.obtained_epochs == self.expected_epochs

    @property
    def columns(self) -> tuple[MetricComparison, ...]:
        """Every gated per-epoch column: the figures, then the observables."""
        return self.metrics + self.observables

    @property
    def passed(self) -> bool:
        return (self.length_ok and all(m.passed for m in self.columns)
                and all(o.passed for o in self.outputs))

    @property
    def first_divergent_epoch(self) -> int | None:
        epochs = [m.first_divergent_epoch for m in self.columns
                  if m.first_divergent_epoch is not None]
        if not self.length_ok:
            epochs.append(min(self.obtained_epochs, self.expected_epochs))
        return min(epochs) if epochs else None

    @property
    def max_rel_error(self) -> float:
        return max((m.max_rel_error for m in self.metrics), default=0.0)

    @property
    def first_divergence(self) -> FirstDivergence | None:
        """The first epoch and column outside its tolerance (None: every column is within;
        a length difference alone names no column)."""
        hits = [(m.first_divergent_epoch, i) for i, m in enumerate(self.columns)
                if m.first_divergent_epoch is not None]
        if not hits:
            return None
        epoch, index = min(hits)
        first = self.columns[index]
        others = tuple((m.metric, float(m.obtained[epoch]), float(m.expected[epoch]),
                        bool(within(m.obtained[epoch:epoch + 1], m.expected[epoch:epoch + 1],
                                    m.tolerance)[0]))
                       for m in self.columns
                       if m is not first and epoch < min(m.tolerance.gated(len(m.obtained)),
                                                         len(m.expected)))
        return FirstDivergence(epoch, first.metric, float(first.obtained[epoch]),
                               float(first.expected[epoch]), first.tolerance, others)

    @property
    def failed_outputs(self) -> tuple[OutputComparison, ...]:
        return tuple(o for o in self.outputs if not o.passed)


def format_pair(obtained: float, expected: float, digits: int = 6) -> tuple[str, str]:
    """Both values with ``digits`` significant digits, or as many more (up to 17, a
    float64's round trip) as it takes for two different values to read differently:
    a divergence message never shows "14.2761 vs golden 14.2761"."""
    a, b = float(obtained), float(expected)
    for n in range(digits, 18):
        sa, sb = f"{a:.{n}g}", f"{b:.{n}g}"
        if sa != sb or a == b or (a != a and b != b):
            return sa, sb
    return sa, sb


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


def _leaves(obtained: Any, expected: Any, path: Path = ()
            ) -> Iterator[tuple[Path, Any, Any]]:
    """(path, obtained, expected) of every leaf of ``expected`` in order, dicts by key and
    lists by index; a leaf only one side has pairs with ``None``."""
    if isinstance(expected, Mapping) and isinstance(obtained, Mapping):
        for key in [*expected, *(k for k in obtained if k not in expected)]:
            yield from _leaves(obtained.get(key), expected.get(key), (*path, key))
    elif isinstance(expected, (list, tuple)) and isinstance(obtained, (list, tuple)):
        for i in range(max(len(expected), len(obtained))):
            yield from _leaves(obtained[i] if i < len(obtained) else None,
                               expected[i] if i < len(expected) else None, (*path, i))
    else:
        yield path, obtained, expected


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _first_char(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)))


def compare_output(name: str, obtained: Any, expected: Any, tol: Tolerance) -> OutputComparison:
    """Compare one output (numbers, texts, or dicts and lists of them) leaf by leaf:
    numbers within ``tol``, anything else equal (greedy text exactly, whatever ``tol``)."""
    count, worst, first = 0, 0.0, None
    for path, a, b in _leaves(obtained, expected):
        count += 1
        if _number(a) and _number(b):
            worst = max(worst, abs(float(a) - float(b)))
            ok = bool(within(np.array([a], float), np.array([b], float), tol)[0])
        else:
            ok = a == b
        if not ok and first is None:
            char = _first_char(a, b) if isinstance(a, str) and isinstance(b, str) else None
            first = (path, char, a, b)
    if first is None:
        return OutputComparison(name, tol, True, count, worst)
    path, char, a, b = first
    return OutputComparison(name, tol, False, count, worst, path, char, a, b)


def compare_outputs(obtained: Mapping[str, Any], expected: Mapping[str, Any],
                    tolerances: Mapping[str, Tolerance], epochs: int | None = None
                    ) -> tuple[OutputComparison, ...]:
    """Every output of ``expected`` that ``tolerances`` names (``output:<name>``). Outputs
    are what a run shows after its last epoch: after ``epochs`` epochs, an output whose
    tolerance has a ``horizon`` below that is past it and not compared."""
    results = []
    for name in expected:
        tol = output_tolerance(tolerances, name)
        if tol is not None and (epochs is None or tol.gated(epochs) == epochs):
            results.append(compare_output(name, obtained.get(name), expected[name], tol))
    return tuple(results)


def gated_observables(obtained: Trajectory, expected: Trajectory, observables: Sequence[str],
                      tolerances: Mapping[str, Tolerance]) -> dict[str, Tolerance]:
    """The observables both runs recorded and ``tolerances`` gates, with their tolerance."""
    found = {name: observable_tolerance(tolerances, name) for name in observables
             if name in obtained.metrics and name in expected.metrics}
    return {name: tol for name, tol in found.items() if tol is not None}


def compare_trajectories(obtained: Trajectory, expected: Trajectory, metrics: Sequence[str],
                         tolerances: Mapping[str, Tolerance], *, prefix: bool = False,
                         observables: Sequence[str] = (), outputs: bool = False
                         ) -> Comparison:
    """Compare ``metrics`` of two trajectories with per-metric tolerances.

    ``tolerances`` needs an entry per metric or a ``default``. With ``prefix=True`` a
    shorter ``obtained`` is compared with the first epochs of ``expected`` (a ``ci`` run
    checked against the ``tutorial`` golden). ``observables`` are compared too where both
    sides recorded them and ``tolerances`` gates them; with ``outputs`` the outputs
    ``tolerances`` names as well.
    """
    results = []
    for name in metrics:
        tol = tolerance_for(tolerances, name)
        results.append(compare_metric(name, obtained.metrics[name], expected.metrics[name], tol))
    observed = [compare_metric(name, obtained.metrics[name], expected.metrics[name], tol)
                for name, tol in gated_observables(obtained, expected, observables,
                                                   tolerances).items()]
    expected_epochs = expected.num_epochs
    if prefix and obtained.num_epochs <= expected_epochs:
        expected_epochs = obtained.num_epochs
    compared = (compare_outputs(obtained.outputs, expected.outputs, tolerances,
                                max(obtained.num_epochs, expected.num_epochs))
                if outputs else ())
    return Comparison(obtained.port_id, obtained.profile, tuple(results),
                      obtained.num_epochs, expected_epochs, tuple(observed), compared)


# -- checkpoint segments: a replay against its stored continuation, per epoch and step --
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
    for path, a, b in _leaves(obtained, expected):
        if _number(a) and _number(b):
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
