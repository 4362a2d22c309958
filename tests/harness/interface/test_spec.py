"""``SegmentPlan``: which steps of a segment each port gates."""

from __future__ import annotations

from harness.interface import SegmentPlan, Tolerance

TABLE = {"default": Tolerance(rtol=1e-6)}


def test_a_port_step_limit_replaces_the_plans_for_that_port_only():
    plan = SegmentPlan(spacing=5, length=1, epoch_tolerances=TABLE, step_tolerances=TABLE,
                       port_step_limits={"toy/relu": 1})
    assert plan.step_limit_for("toy/relu") == 1
    assert plan.step_limit_for("toy/tanh") is None  # whole epochs, the plan's own
    limited = SegmentPlan(spacing=5, length=1, epoch_tolerances=TABLE, step_tolerances=TABLE,
                          step_limit=3, port_step_limits={"toy/relu": 1})
    assert (limited.step_limit_for("toy/relu"), limited.step_limit_for("toy/tanh")) == (1, 3)
