"""Two ports that compute the same function agree from the same weights: frameworks,
variants (through an ``Equivalence``) and devices."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.interface import Batch, Equivalence, Example, Params, Port, Tolerance
from harness.invariants._gap import gap, gap_lines
from harness.invariants._probes import randomized
from harness.invariants._violation import violation


def check_agreement(a: Port, b: Port, example: Example, batch: Batch, tol: Tolerance, *,
                    what: str, equivalence: Equivalence | None = None,
                    params: Params | None = None) -> dict[str, float]:
    """With ``a``'s (randomised) weights loaded into ``b``, forward outputs, loss and
    gradients agree within ``tol``. Returns the worst relative gap per compared item."""
    eq = equivalence
    rng = np.random.default_rng([example.seed, 11])
    base = params or randomized(a.get_params(), rng)
    a.set_params(base)
    b.set_params(eq.to_b(base) if eq else base)
    batch_b = eq.batch_to_b(batch) if eq else dict(batch)
    out_a, out_b = a.forward(batch), b.forward(batch_b)
    out_b = eq.outputs_to_a(out_b) if eq else out_b
    pairs: dict[str, tuple[Any, Any]] = {f"forward {k}": (out_b[k], v) for k, v in out_a.items()}
    loss_a, grads_a = a.loss_and_grads(batch)
    loss_b, grads_b = b.loss_and_grads(batch_b)
    mapped = eq.grads_to_a(grads_b, example.sizes) if eq else grads_b
    if mapped is not None:
        ratio = eq.loss_ratio if eq else 1.0
        pairs["loss"] = (loss_b / ratio, loss_a)
        pairs |= {f"grad {k}": (np.asarray(mapped[k]) / ratio, v) for k, v in grads_a.items()}
    return _compare_pairs(pairs, tol, what, f"{a.port_id} vs {b.port_id}", example)


def _compare_pairs(pairs: Mapping[str, tuple[Any, Any]], tol: Tolerance, what: str,
                   ports: str, example: Example) -> dict[str, float]:
    worst = {}
    for item, (got, want) in pairs.items():
        g = gap(got, want, tol)
        if not g.ok:
            shapes = f"{np.shape(got)} vs {np.shape(want)}"
            raise violation(
                f"{ports}: {item} differ beyond the {what} tolerance.", what, ports,
                item, example, f"find the op that differs for {item} (compare the two "
                "ports' code), or re-measure the tolerance in spec.py if it is noise.",
                shapes=shapes, **gap_lines(g, tol))
        worst[item] = g.rel_err
    return worst
