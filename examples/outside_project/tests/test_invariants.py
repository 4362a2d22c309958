"""Invariant checks on my_sine's port through the public API, ``harness.invariants``: the
spec's probe says which sizes to draw and which shapes ``forward`` documents; each check
raises ``InvariantViolation`` naming the parameter and the example when the port breaks it."""

import pytest

from harness.invariants import (
    Example,
    build_port,
    check_gradients,
    check_shapes,
    draw_batch,
    probe_for,
)

EXAMPLES = [Example({"steps": 1, "hidden": 1}, seed=0), Example({"steps": 4, "hidden": 3}, 1),
            Example({"steps": 6, "hidden": 5}, seed=2)]


@pytest.fixture
def probe(harness_registry):
    return probe_for("my_sine", harness_registry)


@pytest.mark.parametrize("example", EXAMPLES, ids=Example.describe)
def test_outputs_and_gradients_have_the_documented_shapes(example, probe, harness_registry):
    port = build_port("my_sine/numpy", probe, example, registry=harness_registry)
    check_shapes(port, probe, example, draw_batch(probe, example))


@pytest.mark.parametrize("example", EXAMPLES, ids=Example.describe)
def test_gradients_match_finite_differences(example, probe, harness_registry):
    port = build_port("my_sine/numpy", probe, example, float64=True, registry=harness_registry)
    check_gradients(port, example, draw_batch(probe, example))
