"""Invariant checks shared by every port: probes (drawn sizes, batches, shapes) and the error.

A tutorial's framework-free ``spec.py`` publishes a ``PROBE`` saying how to build a config
with drawn sizes, how to draw a batch and which shapes ``forward`` documents. The checks in
``harness.invariants_checks`` (numerics) and ``harness.invariants_process`` (processes,
devices) use it on any port; a user can point them at their own port with their own probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import EXIT_REGRESSION, HarnessError
from harness.interface import Equivalence as Equivalence  # re-exported
from harness.interface import Example as Example  # re-exported
from harness.interface import Params, Port, Tolerance
from harness.interface import Probe as Probe  # re-exported
from harness.interface import Sizes as Sizes  # re-exported
from harness.registry import Registry, default_registry
from harness.seeding import seed_everything


class InvariantViolation(HarnessError):
    """A port breaks an invariant (shape, gradient, agreement, truncation, clipping...)."""

    exit_code = EXIT_REGRESSION

    def __init__(self, summary: str, *, check: str, parameter: str, example: str,
                 **kwargs: Any) -> None:
        self.check, self.parameter, self.example = check, parameter, example
        context = {"check": check, "parameter": parameter, "example": example,
                   **kwargs.pop("context", {})}
        super().__init__(summary, context=context, **kwargs)


def probe_for(tutorial: str, registry: Registry | None = None) -> Probe | None:
    """The tutorial's probe (``TutorialSpec.probe``), or None when it has none."""
    registry = registry or default_registry()
    return registry.spec(tutorial).probe


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
