"""A run against its golden, per epoch: the tutorial's own figures and, where both sides
recorded them and the spec gives them a tolerance, the training observables; and the
outputs the spec names (what the tutorial shows after training). Pure functions over
numpy arrays and records, returning data (no I/O, no text)."""

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


def leaves(obtained: Any, expected: Any, path: Path = ()
            ) -> Iterator[tuple[Path, Any, Any]]:
    """(path, obtained, expected) of every leaf of ``expected`` in order, dicts by key and
    lists by index; a leaf only one side has pairs with ``None``."""
    if isinstance(expected, Mapping) and isinstance(obtained, Mapping):
        for key in [*expected, *(k for k in obtained if k not in expected)]:
            yield from leaves(obtained.get(key), expected.get(key), (*path, key))
    elif isinstance(expected, (list, tuple)) and isinstance(obtained, (list, tuple)):
        for i in range(max(len(expected), len(obtained))):
            yield from leaves(obtained[i] if i < len(obtained) else None,
                               expected[i] if i < len(expected) else None, (*path, i))
    else:
        yield path, obtained, expected


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _first_char(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)))


def compare_output(name: str, obtained: Any, expected: Any, tol: Tolerance) -> OutputComparison:
    """Compare one output (numbers, texts, or dicts and lists of them) leaf by leaf:
    numbers within ``tol``, anything else equal (greedy text exactly, whatever ``tol``)."""
    count, worst, first = 0, 0.0, None
    for path, a, b in leaves(obtained, expected):
        count += 1
        if is_number(a) and is_number(b):
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


def first_bit_difference(obtained: np.ndarray, expected: np.ndarray) -> int | None:
    """The first row where two columns are not bit-identical (NaN equals NaN; a row one
    side lacks counts as different), or None where they are: the exactness that a
    restore proof and a seed-batched twin's proof require."""
    a = np.asarray(obtained, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    n = min(a.size, b.size)
    with np.errstate(invalid="ignore"):
        same = (a[:n] == b[:n]) | (np.isnan(a[:n]) & np.isnan(b[:n]))
    bad = np.flatnonzero(~same)
    if bad.size:
        return int(bad[0])
    return None if a.size == b.size else n
