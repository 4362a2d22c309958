"""Meta-tests: every invariant passes on the correct numpy toy port and catches its broken copy
with a message naming the port, the parameter and the drawn example (no framework needed)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from harness.invariants import (
    Equivalence,
    Example,
    InvariantViolation,
    check_agreement,
    check_clipping,
    check_determinism,
    check_gradients,
    check_shapes,
    check_truncation,
    draw_batch,
    sizes_strategy,
)
from tests.harness.invariants import broken
from tests.harness.invariants.broken import PROBE

EXAMPLE = Example({"batch": 2, "steps": 3, "inputs": 2, "hidden": 3}, seed=5)
FEW = settings(max_examples=10)


def built(cls: type[broken.ToyRnn], example: Example = EXAMPLE, float64: bool = False):
    port = cls()
    port.build(broken.toy_config(example.sizes), 0, "cpu")
    if float64:
        port.to_float64()
    return port


def assert_names_everything(exc: InvariantViolation, port_id: str, parameter: str,
                            example: Example) -> None:
    text = str(exc)
    assert port_id in text
    assert f"parameter: {parameter}" in text
    assert f"example: {example.describe()}" in text
    assert text.splitlines()[-1].startswith("Fix: ")


@FEW
@given(sizes_strategy(PROBE))
def test_shape_check_passes_a_correct_port_for_every_drawn_size(example):
    check_shapes(built(broken.ToyRnn, example), PROBE, example, draw_batch(PROBE, example))


def test_shape_check_catches_a_transposed_state():
    with pytest.raises(InvariantViolation) as info:
        check_shapes(built(broken.WrongShape), PROBE, EXAMPLE, draw_batch(PROBE, EXAMPLE))
    assert_names_everything(info.value, "toy/wrong-shape", "h", EXAMPLE)
    assert "(3, 2)" in str(info.value) and "(2, 3)" in str(info.value)


@FEW
@given(sizes_strategy(PROBE))
def test_gradient_check_passes_a_correct_port(example):
    worst = check_gradients(built(broken.ToyRnn, example, True), example,
                            draw_batch(PROBE, example))
    assert worst < 1e-5


def test_gradient_check_catches_a_wrong_recurrent_gradient():
    with pytest.raises(InvariantViolation) as info:
        check_gradients(built(broken.WrongGradient, float64=True), EXAMPLE,
                        draw_batch(PROBE, EXAMPLE))
    assert_names_everything(info.value, "toy/wrong-gradient", "W_hh", EXAMPLE)


@FEW
@given(sizes_strategy(PROBE))
def test_agreement_check_passes_two_equal_ports(example):
    worst = check_agreement(built(broken.ToyRnn, example), built(broken.ToyRnn, example),
                            example, draw_batch(PROBE, example), PROBE.cross_tolerance,
                            what="cross-framework")
    assert max(worst.values()) == 0.0


def test_agreement_check_catches_a_swapped_bias():
    with pytest.raises(InvariantViolation) as info:
        check_agreement(built(broken.ToyRnn), built(broken.SwappedBias), EXAMPLE,
                        draw_batch(PROBE, EXAMPLE), PROBE.cross_tolerance,
                        what="cross-framework")
    assert_names_everything(info.value, "toy/numpy vs toy/swapped-bias", "forward y", EXAMPLE)


def _merge_biases(params):
    """Two biases -> one: b_xh + b_hh, b_hh = 0 (the char_rnn scratch/concise mapping)."""
    return {**params, "b_xh": params["b_xh"] + params["b_hh"],
            "b_hh": np.zeros_like(params["b_hh"])}


def test_variant_check_passes_a_correct_bias_mapping():
    eq = Equivalence(a="toy/numpy", b="toy/numpy", why="merged biases", to_b=_merge_biases,
                     tolerance=PROBE.cross_tolerance)
    worst = check_agreement(built(broken.ToyRnn), built(broken.ToyRnn), EXAMPLE,
                            draw_batch(PROBE, EXAMPLE), eq.tolerance, what="variants",
                            equivalence=eq)
    assert "grad b_hh" in worst and max(worst.values()) < 1e-5


def test_variant_check_catches_a_mapping_that_drops_a_bias():
    eq = Equivalence(a="toy/numpy", b="toy/numpy", why="drops b_hh",
                     to_b=lambda p: {**p, "b_hh": np.zeros_like(p["b_hh"])},
                     tolerance=PROBE.cross_tolerance)
    with pytest.raises(InvariantViolation) as info:
        check_agreement(built(broken.ToyRnn), built(broken.ToyRnn), EXAMPLE,
                        draw_batch(PROBE, EXAMPLE), eq.tolerance, what="variants",
                        equivalence=eq)
    assert_names_everything(info.value, "toy/numpy vs toy/numpy", "forward y", EXAMPLE)
    assert "check: variants" in str(info.value)


def test_truncation_check_passes_a_port_that_cuts():
    port = built(broken.ToyRnn)
    leak = check_truncation(port, EXAMPLE, draw_batch(PROBE, EXAMPLE),
                            draw_batch(PROBE, EXAMPLE, 1))
    assert leak > 0


def test_truncation_check_catches_a_missing_detach():
    with pytest.raises(InvariantViolation) as info:
        check_truncation(built(broken.MissingDetach), EXAMPLE, draw_batch(PROBE, EXAMPLE),
                         draw_batch(PROBE, EXAMPLE, 1))
    assert_names_everything(info.value, "toy/missing-detach", "h0", EXAMPLE)


def _grads(scale: float) -> dict[str, np.ndarray]:
    _, grads = built(broken.ToyRnn).loss_and_grads(draw_batch(PROBE, EXAMPLE))
    return {k: g * scale for k, g in grads.items()}


@pytest.mark.parametrize("scale", [0.01, 1.0, 100.0])
def test_clipping_check_passes_global_norm_clipping(scale):
    grads = _grads(scale)
    check_clipping(built(broken.ToyRnn), EXAMPLE, grads, theta=0.1)


def test_clipping_check_catches_per_parameter_clipping():
    with pytest.raises(InvariantViolation) as info:
        check_clipping(built(broken.PerParameterClip), EXAMPLE, _grads(100.0), theta=0.1)
    assert "toy/per-parameter-clip" in str(info.value)
    assert info.value.parameter in broken.NAMES + ("all",)


def test_device_agreement_catches_a_device_that_rounds_differently():
    """The device check is check_agreement with the device tolerance: a 1e-3 drift fails."""

    class Drifting(broken.ToyRnn):
        port_id = "toy/drifting-device"

        def forward(self, batch):
            out = super().forward(batch)
            return {**out, "y": out["y"] * (1 + 1e-3)}

    with pytest.raises(InvariantViolation) as info:
        check_agreement(built(broken.ToyRnn), built(Drifting), EXAMPLE,
                        draw_batch(PROBE, EXAMPLE), PROBE.device_tolerance, what="devices")
    assert_names_everything(info.value, "toy/drifting-device", "forward y", EXAMPLE)


REGISTRY = "tests.harness.invariants.broken:REGISTRY"
PROBE_TARGET = "tests.harness.invariants.broken:PROBE"


def test_determinism_check_passes_a_seeded_port():
    check_determinism("toy/numpy", 3, registry=REGISTRY, probe=PROBE_TARGET)


def test_determinism_check_catches_an_unseeded_op():
    with pytest.raises(InvariantViolation) as info:
        check_determinism("toy/numpy-nondeterministic", 3, registry=REGISTRY,
                          probe=PROBE_TARGET)
    assert_names_everything(info.value, "toy/numpy-nondeterministic", "loss", Example({}, 3))


def test_thread_count_effect_reports_no_difference_for_a_numpy_port():
    from harness.invariants import thread_count_effect

    effect = thread_count_effect("toy/numpy", (1, 2), registry=REGISTRY, probe=PROBE_TARGET)
    assert effect == {1: 0.0, 2: 0.0}


def test_determinism_check_reaps_both_children_when_collecting_one_fails(monkeypatch):
    """A child left running warns (ResourceWarning) later, in an unrelated test."""
    from harness.errors import ChildRunError
    from harness.invariants import _process

    started = []
    real_start = _process._start

    def start(*args, **kwargs):
        started.append(real_start(*args, **kwargs))
        return started[-1]

    def failing_collect(port_id, proc):
        raise ChildRunError(f"{port_id}: injected failure", fix="none needed")

    monkeypatch.setattr(_process, "_start", start)
    monkeypatch.setattr(_process, "_collect", failing_collect)
    with pytest.raises(ChildRunError, match="injected"):
        check_determinism("toy/numpy", 3, registry=REGISTRY, probe=PROBE_TARGET)
    assert len(started) == 2
    assert all(p.returncode is not None for p in started)
    assert all(p.stdout.closed and p.stderr.closed for p in started)


def test_a_failing_child_run_is_a_typed_error_carrying_its_stderr():
    from harness.errors import ChildRunError
    from harness.invariants import trajectories_in_subprocess

    with pytest.raises(ChildRunError) as info:
        trajectories_in_subprocess("toy/absent", (0,), registry=REGISTRY, probe=PROBE_TARGET)
    assert "No port is registered as 'toy/absent'" in str(info.value)
    assert str(info.value).splitlines()[-1].startswith("Fix: ")
