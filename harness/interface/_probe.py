"""Probes: how the invariant checks exercise a tutorial's ports (framework-free), and
equivalences between two ports that compute the same function."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.interface._port import Batch, Params
from harness.interface._tolerance import Tolerance

Sizes = Mapping[str, int]


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
