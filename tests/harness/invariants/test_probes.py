"""Every registered tutorial publishes a framework-free PROBE the invariant suite can use."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from harness.invariants import Example, draw_batch, probe_for
from harness.registry import default_registry

TUTORIALS = default_registry().tutorials()


@pytest.mark.parametrize("tutorial", TUTORIALS)
def test_every_tutorial_has_a_probe_whose_drawn_sizes_reach_one(tutorial):
    probe = probe_for(tutorial)
    assert probe is not None, f"reference_impls/{tutorial}/spec.py has no PROBE"
    drawable = {k: lo for k, (lo, hi) in probe.sizes.items() if lo < hi}
    assert drawable, "a probe must draw at least one size"
    assert {k for k in drawable if k in ("batch", "steps", "hidden")} and min(
        drawable.values()) == 1


@pytest.mark.parametrize("tutorial", TUTORIALS)
def test_probe_batches_are_seeded_and_float32(tutorial):
    probe = probe_for(tutorial)
    example = Example({k: hi for k, (lo, hi) in probe.sizes.items()}, seed=3)
    first, again = draw_batch(probe, example), draw_batch(probe, example)
    other = draw_batch(probe, example, stream=1)
    assert first.keys() == again.keys() == other.keys()
    for key, value in first.items():
        np.testing.assert_array_equal(value, again[key])
        assert value.dtype in (np.float32, np.int64), (key, value.dtype)
    assert any(not np.array_equal(v, other[k]) for k, v in first.items())
    assert np.shape(first[probe.state_in]) == probe.output_shapes(example.sizes)[probe.state_out]


@pytest.mark.parametrize("tutorial", TUTORIALS)
def test_probe_configs_are_the_tutorial_config_type_and_short_runs_are_short(tutorial):
    """Drawn configs are dataclasses.replace of the profile (never a new Config field)."""
    probe = probe_for(tutorial)
    profile = default_registry().spec(tutorial).profile("tutorial")
    config = probe.make_config(probe.default_sizes())
    assert type(config) is type(profile)
    assert {f.name for f in dataclasses.fields(config)} == {
        f.name for f in dataclasses.fields(profile)}
    assert probe.short_config().epochs <= min(10, profile.epochs)
