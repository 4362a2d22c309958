"""Invariant checks for any port, this repository's or an outside project's.

A tutorial's spec publishes a :class:`Probe` (``TutorialSpec.probe``): how to build a config
with drawn sizes, how to draw a numpy batch, and the shapes ``forward`` documents. Every
check takes built ports and drawn examples, raises :class:`InvariantViolation` (naming the
check, the port, the parameter and the example, and ending in a fix) when a port breaks
the invariant, and returns what it measured otherwise.

Checks on one built port:
  ``check_shapes``       forward's outputs and every gradient have the documented shapes
  ``check_gradients``    float64 gradients match central finite differences of the loss
  ``check_truncation``   the port's state cut stops the gradient (hook ``truncation_grads``)
  ``check_clipping``     clipping bounds the global norm and keeps the direction
                         (hook ``clip_grads``)
Checks on two ports:
  ``check_agreement``    same weights, same outputs, loss and gradients (frameworks,
                         variants through an :class:`Equivalence`, devices)
Checks in fresh processes (ports named by id, registry and probe by "module:attr"):
  ``check_determinism``  one seed gives the same bits in two processes, another seed not
  ``check_device_trajectory``, ``thread_count_effect``

A check that needs an optional port method the port lacks raises ``MissingHookError``.

Example, on an outside project's port::

    from harness.invariants import Example, build_port, check_gradients, draw_batch

    example = Example({"batch": 2, "steps": 3, "hidden": 4}, seed=0)
    port = build_port("my_rnn/numpy", MY_PROBE, example, float64=True, registry=MY_REGISTRY)
    check_gradients(port, example, draw_batch(MY_PROBE, example))

``sizes_strategy(probe)`` draws examples with Hypothesis.
"""

from harness.errors import InvariantViolation, MissingHookError
from harness.interface import Equivalence, Example, Probe, Sizes
from harness.invariants._agreement import check_agreement
from harness.invariants._checks import (
    FD_TOLERANCE,
    check_clipping,
    check_gradients,
    check_shapes,
    check_truncation,
)
from harness.invariants._gap import Gap, gap, gap_lines
from harness.invariants._probes import build_port, draw_batch, probe_for, randomized, sizes_strategy
from harness.invariants._process import (
    check_determinism,
    check_device_trajectory,
    thread_count_effect,
    trajectories_in_subprocess,
)

__all__ = [
    "FD_TOLERANCE", "Equivalence", "Example", "Gap", "InvariantViolation", "MissingHookError",
    "Probe", "Sizes", "build_port", "check_agreement", "check_clipping", "check_determinism",
    "check_device_trajectory", "check_gradients", "check_shapes", "check_truncation",
    "draw_batch", "gap", "gap_lines", "probe_for", "randomized", "sizes_strategy",
    "thread_count_effect", "trajectories_in_subprocess",
]
