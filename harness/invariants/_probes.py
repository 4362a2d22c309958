"""What the checks need before they compare anything: a tutorial's probe, drawn examples
and batches, a port built for an example, and randomised weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.errors import MissingHookError
from harness.interface import Example, Params, Port, Probe
from harness.registry import Registry, default_registry
from harness.seeding import seed_everything


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


def randomized(params: Params, rng: np.random.Generator, scale: float = 0.5) -> Params:
    """Fresh normal(0, scale) values of the same shapes and dtypes (biases included)."""
    return {k: rng.normal(0.0, scale, np.shape(v)).astype(np.asarray(v).dtype)
            for k, v in params.items()}
