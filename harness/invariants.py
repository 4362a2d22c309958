"""Invariant checks shared by every port: probes (drawn sizes, batches, shapes) and the error.

A tutorial's framework-free ``spec.py`` publishes a ``PROBE`` saying how to build a config
with drawn sizes, how to draw a batch and which shapes ``forward`` documents. The checks in
``harness.invariants_checks`` (numerics) and ``harness.invariants_process`` (processes,
devices) use it on any port; a user can point them at their own port with their own probe.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.errors import EXIT_REGRESSION, HarnessError
from harness.interface import Batch, Params, Port, Tolerance
from harness.registry import Registry, default_registry
from harness.seeding import seed_everything

Sizes = Mapping[str, int]


class InvariantViolation(HarnessError):
    """A port breaks an invariant (shape, gradient, agreement, truncation, clipping...)."""

    exit_code = EXIT_REGRESSION

    def __init__(self, summary: str, *, check: str, parameter: str, example: str,
                 **kwargs: Any) -> None:
        self.check, self.parameter, self.example = check, parameter, example
        context = {"check": check, "parameter": parameter, "example": example,
                   **kwargs.pop("context", {})}
        super().__init__(summary, context=context, **kwargs)


@dataclass(frozen=True)
class Example:
    """One drawn case: sizes (``batch``, ``steps``, ``hidden``...) and a seed for the data."""

    sizes: Sizes
    seed: int = 0

    def describe(self) -> str:
        return ", ".join([f"{k}={v}" for k, v in sorted(self.sizes.items())] +
                         [f"seed={self.seed}"])


@dataclass(frozen=True)
class Probe:
    """How the invariant checks exercise one tutorial's ports (framework-free).

    ``sizes`` maps each size the checks draw to inclusive bounds (equal bounds: fixed by the
    tutorial). ``make_config(sizes)`` returns a config (``dataclasses.replace`` of a
    profile); ``make_batch(sizes, rng)`` a numpy batch holding the initial state under
    ``state_in``; ``output_shapes(sizes)`` the shapes ``forward`` documents (the final state
    under ``state_out``). ``cross_config`` (default ``make_config``) is the config both
    frameworks share for the cross-framework check (and the truncation check, where a ReLU
    could hide a leak behind dead units). Tolerances are measured, see each spec.py.
    """

    tutorial: str
    sizes: Mapping[str, tuple[int, int]]
    make_config: Callable[[Sizes], Any]
    make_batch: Callable[[Sizes, np.random.Generator], dict[str, np.ndarray]]
    output_shapes: Callable[[Sizes], dict[str, tuple[int, ...]]]
    cross_tolerance: Tolerance
    device_tolerance: Tolerance
    layout: str = ""
    state_in: str = "h0"
    state_out: str = "h"
    cross_config: Callable[[Sizes], Any] | None = None
    #: the sizes and epochs of the short run used for determinism and device trajectories
    short_sizes: Mapping[str, int] = field(default_factory=dict)
    short_epochs: int = 2
    equivalences: tuple[Equivalence, ...] = ()
    #: sizes fixed for the finite-difference check, e.g. {"steps": 1} where loss_and_grads
    #: cuts the state inside a batch (its gradient is then truncated BPTT, not the loss's
    #: full derivative, by design; the truncation check covers the cut)
    fd_sizes: Mapping[str, int] = field(default_factory=dict)
    #: port id -> (eps, tolerance) of its finite differences where a framework op is less
    #: accurate than float64 (the default is eps 1e-6, ``FD_TOLERANCE``)
    fd_overrides: Mapping[str, tuple[float, Tolerance]] = field(default_factory=dict)

    def default_sizes(self) -> dict[str, int]:
        return {k: lo for k, (lo, _) in self.sizes.items()} | dict(self.short_sizes)

    def for_gradients(self, example: Example) -> Example:
        """``example`` with the sizes the finite-difference check needs (``fd_sizes``)."""
        return Example({**example.sizes, **self.fd_sizes}, example.seed)

    def short_config(self) -> Any:
        """A tiny training run (determinism, device trajectories)."""
        import dataclasses

        return dataclasses.replace(self.make_config(self.default_sizes()),
                                   epochs=self.short_epochs)


@dataclass(frozen=True)
class Equivalence:
    """Two ports that compute the same function once the weights are mapped.

    ``to_b`` maps port ``a``'s canonical params to ``b``'s, ``batch_to_b`` and
    ``outputs_to_a`` translate inputs and outputs; ``grads_to_a(grads_b, sizes)`` maps
    ``b``'s gradients to ``a``'s names and scale, or returns None where the losses differ
    for these sizes (then only ``forward`` is compared). ``config_b(sizes)`` builds
    ``b``'s config when ``b`` belongs to another tutorial.
    """

    a: str
    b: str
    why: str
    to_b: Callable[[Params], Params]
    tolerance: Tolerance
    batch_to_b: Callable[[Batch], dict[str, np.ndarray]] = dict
    outputs_to_a: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] = dict
    grads_to_a: Callable[[Params, Sizes], Params | None] = lambda g, s: dict(g)
    loss_ratio: float = 1.0  # loss_b = loss_ratio * loss_a
    config_b: Callable[[Sizes], Any] | None = None


def probe_for(tutorial: str, package: str = "reference_impls") -> Probe | None:
    """The ``PROBE`` in ``<package>.<tutorial>.spec``, or None when it has none."""
    module = importlib.import_module(f"{package}.{tutorial}.spec")
    probe: Probe | None = getattr(module, "PROBE", None)
    return probe


def sizes_strategy(probe: Probe) -> Any:
    """A Hypothesis strategy of :class:`Example` for ``probe`` (imports hypothesis lazily)."""
    from hypothesis import strategies as st

    sizes = st.fixed_dictionaries({k: st.integers(lo, hi) for k, (lo, hi) in probe.sizes.items()})
    return st.builds(Example, sizes, st.integers(0, 2**16))


def draw_batch(probe: Probe, example: Example, stream: int = 0) -> dict[str, np.ndarray]:
    """The probe's batch for ``example`` (``stream`` > 0 draws an independent second batch)."""
    return probe.make_batch(example.sizes, np.random.default_rng([example.seed, stream]))


def build_port(port_id: str, probe: Probe, example: Example, *, device: str = "cpu",
               float64: bool = False, config: Any = None, seed: int = 0,
               registry: Registry | None = None) -> Port:
    """A port built for the example's sizes (and switched to float64 when asked)."""
    registry = registry or default_registry()
    port = registry.load(port_id)
    seed_everything(seed)
    port.build(config if config is not None else probe.make_config(example.sizes), seed, device)
    if float64:
        to64 = getattr(port, "to_float64", None)
        if to64 is None:
            raise MissingHookError(port_id, "to_float64", "float64 checks (finite differences)")
        to64()
    return port


class MissingHookError(HarnessError):
    """A check needs an optional port method this port does not have (the test skips)."""

    def __init__(self, port_id: str, hook: str, needed_for: str) -> None:
        super().__init__(
            f"{port_id} has no optional method {hook}(), needed for {needed_for}.",
            context={"port": port_id}, port=port_id,
            fix=f"implement {hook}() on the port (see harness/invariants_checks.py) "
            "to enable this check.")


def randomized(params: Params, rng: np.random.Generator, scale: float = 0.5) -> Params:
    """Fresh normal(0, scale) values of the same shapes and dtypes (biases included)."""
    return {k: rng.normal(0.0, scale, np.shape(v)).astype(np.asarray(v).dtype)
            for k, v in params.items()}


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
    """The worst element under ``|a - b| <= atol + rtol * max(|a|, |b|)``."""
    a = np.asarray(obtained, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        return Gap(np.inf, np.inf, (), np.nan, np.nan, False)
    if a.size == 0:
        return Gap(0.0, 0.0, (), 0.0, 0.0, True)
    diff = np.abs(a - b)
    scale = np.maximum(np.abs(a), np.abs(b))
    excess = diff - (tol.atol + tol.rtol * scale)
    flat = int(np.argmax(np.where(np.isnan(excess), np.inf, excess)))
    index = tuple(int(i) for i in np.unravel_index(flat, a.shape))
    rel = diff / np.where(scale > 0, scale, 1.0)
    ok = bool(np.all(excess <= 0))
    return Gap(float(diff.max()), float(rel.max()), index, float(a[index]), float(b[index]), ok)


def gap_lines(g: Gap, tol: Tolerance) -> dict[str, object]:
    """Context lines for a message: obtained vs expected with both differences."""
    return {"at index": g.index, "obtained": f"{g.obtained:.9g}",
            "expected": f"{g.expected:.9g}",
            "abs diff": f"{g.abs_err:.3g}", "rel diff": f"{g.rel_err:.3g}",
            "tolerance": f"rtol {tol.rtol:g}, atol {tol.atol:g}"}
