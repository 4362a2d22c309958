"""Checkpoint segments on the numpy toy: exact continuations, and a change caught at its
first step with the quantity that moved."""

from __future__ import annotations

import numpy as np
import pytest

from harness.calibrate import with_field
from harness.compare import first_divergence, max_rel
from harness.errors import UsageError
from harness.interface import Tolerance
from harness.registry import PortEntry, Registry
from harness.runner import record_segments, run_segment, segment_starts
from tests.harness.interface.toy import SPEC, ToyConfig

REGISTRY = Registry([PortEntry("toy", "numpy", "", "tests.harness.interface.toy:ToyAdapter")],
                    {"toy": "tests.harness.interface.toy:SPEC"})
TIGHT = Tolerance(rtol=1e-9, atol=1e-12)
STEP_QUANTITIES = ("loss", "grad_norm", "clipped", "param_norm", "update_norm")


def test_segment_starts_fit_inside_the_run():
    assert segment_starts(12, 4, 3) == [4, 8]
    assert segment_starts(12, 4, 4) == [4, 8]
    assert segment_starts(12, 4, 5) == [4]
    with pytest.raises(UsageError, match="spacing"):
        segment_starts(12, 0, 3)


def recorded() -> tuple[dict[str, np.ndarray], list]:
    config = ToyConfig()
    return record_segments("toy/numpy", config, SPEC.default_seed, [4, 8], 3,
                           registry=REGISTRY)


def test_recording_keeps_checkpoints_and_continuations():
    epochs, segments = recorded()
    assert [s.start for s in segments] == [4, 8]
    for s in segments:
        assert s.checkpoint.epoch == s.start
        np.testing.assert_array_equal(s.epochs["loss"], epochs["loss"][s.start:s.start + 3])
        assert sorted(set(s.steps["epoch"])) == [s.start, s.start + 1, s.start + 2]
        assert len(s.steps["loss"]) == 3 * ToyConfig().n


def test_a_segment_replays_exactly():
    _, segments = recorded()
    for s in segments:
        epochs, steps = run_segment("toy/numpy", ToyConfig(), SPEC.default_seed, s,
                                    registry=REGISTRY)
        assert max(max_rel(epochs, s.epochs).values()) == 0.0
        assert max(max_rel(steps, s.steps).values()) == 0.0
        tol = dict.fromkeys(STEP_QUANTITIES, TIGHT)
        assert first_divergence(steps, s.steps, tol, STEP_QUANTITIES, steps=True) is None


def test_a_small_lr_change_is_named_at_its_first_step():
    _, segments = recorded()
    s = segments[1]
    faster = with_field(ToyConfig(), "lr", 1.001)
    epochs, steps = run_segment("toy/numpy", faster, SPEC.default_seed, s, registry=REGISTRY)
    tol = dict.fromkeys(STEP_QUANTITIES, TIGHT)
    div = first_divergence(steps, s.steps, tol, STEP_QUANTITIES, steps=True)
    assert div is not None
    # the first step's loss comes before any update: the parameters after it move first
    assert (div.epoch, div.step, div.quantity) == (8, 0, "param_norm")
    text = div.describe(s.start)
    assert text.startswith("first divergent: segment from epoch 8, epoch 8 step 0: param_norm")
    assert "loss" in text and "(ok)" in text


def test_the_clip_decision_is_reported_when_the_threshold_moves():
    _, segments = recorded()
    s = segments[0]
    config = ToyConfig(clip_theta=ToyConfig().clip_theta * 2)
    _, steps = run_segment("toy/numpy", config, SPEC.default_seed, s, registry=REGISTRY)
    tol = {q: Tolerance(rtol=1e-6) for q in STEP_QUANTITIES}
    order = ("clipped", "loss", "grad_norm", "param_norm", "update_norm")
    div = first_divergence(steps, s.steps, tol, order, steps=True)
    assert div is not None
    first = int(np.flatnonzero(steps["clipped"] != s.steps["clipped"])[0])
    # the first change is the clip decision itself, named with both sides' values
    assert (div.quantity, div.obtained, div.expected) == ("clipped", 0.0, 1.0)
    assert (div.epoch, div.step) == (int(s.steps["epoch"][first]), int(s.steps["step"][first]))
    assert "grad_norm" in div.describe(s.start)
