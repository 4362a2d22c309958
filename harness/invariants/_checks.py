"""Invariants of one built port: documented shapes, gradients against float64 central
differences, the state cut that stops the gradient, and global-norm clipping.

Each check raises ``InvariantViolation`` naming the port, the parameter and the drawn
example, and returns the figures it measured otherwise. Optional port hooks:
``to_float64()``, ``truncation_grads(first, second, cut)`` (the gradient of the loss on
``second`` w.r.t. ``first``'s initial state, with the port's own cut between them when
``cut``) and ``clip_grads(grads, theta)`` (the port's clipping).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from harness.interface import Batch, Example, Params, Port, Probe, Tolerance
from harness.invariants._gap import gap, gap_lines
from harness.invariants._probes import randomized
from harness.invariants._violation import hook, violation


# --------------------------------------------------------------------------------- shapes
def check_shapes(port: Port, probe: Probe, example: Example, batch: Batch) -> None:
    """forward's outputs have the documented shapes, with and without an initial state, the
    final state can be fed back in, and every gradient has its parameter's shape."""
    want = probe.output_shapes(example.sizes)
    no_state = {k: v for k, v in batch.items() if k != probe.state_in}
    first = port.forward(no_state)
    for inputs, label in ((no_state, "zero initial state"), (batch, "given initial state"),
                          ({**no_state, probe.state_in: first[probe.state_out]},
                           "its own final state fed back")):
        out = first if inputs is no_state else port.forward(inputs)
        for key, shape in want.items():
            got = tuple(np.shape(out[key])) if key in out else None
            if got != shape:
                raise violation(
                    f"{port.port_id}: forward output {key!r} has shape {got}, "
                    f"the spec documents {shape}.", "shapes", port.port_id, key,
                    example, "make forward return the documented layout (spec.py).",
                    inputs=label)
    _check_grad_shapes(port, example, batch)


def _check_grad_shapes(port: Port, example: Example, batch: Batch) -> None:
    params = port.get_params()
    loss, grads = port.loss_and_grads(batch)
    if not np.isfinite(loss):
        raise violation(
            f"{port.port_id}: the loss is not finite ({loss}).", "shapes",
            port.port_id, "loss", example, "check the loss for this batch.")
    for name, value in params.items():
        got = tuple(np.shape(grads[name])) if name in grads else None
        if got != tuple(np.shape(value)):
            raise violation(
                f"{port.port_id}: the gradient of {name} has shape {got}, the "
                f"parameter {tuple(np.shape(value))}.", "shapes", port.port_id, name,
                example, "return one gradient per canonical parameter, same shape.")


# --------------------------------------------------------------------- finite differences
#: central differences in float64 with eps 1e-6: truncation ~eps^2, rounding ~1e-16/eps
FD_TOLERANCE = Tolerance(rtol=1e-5, atol=1e-9, why="float64 central differences, eps 1e-6")


def check_gradients(port: Port, example: Example, batch: Batch, *, eps: float = 1e-6,
                    tol: Tolerance = FD_TOLERANCE, per_param: int = 8,
                    params: Params | None = None) -> float:
    """Every parameter's gradient matches central finite differences of the loss (float64).

    ``port`` must already compute in float64 (``to_float64``). ``per_param`` coordinates of
    each parameter are probed (all when it is smaller); ``params`` (default: drawn from the
    example's seed) are loaded first. Returns the worst relative gap.
    """
    rng = np.random.default_rng([example.seed, 7])
    base = params or randomized(port.get_params(), rng)
    port.set_params(base)
    _, grads = port.loss_and_grads(batch)
    worst = 0.0
    for name, value in base.items():
        coords = _coordinates(np.shape(value), per_param, rng)
        numeric = np.array([_central_difference(port, base, name, c, eps, batch) for c in coords])
        analytic = np.array([np.asarray(grads[name])[c] for c in coords])
        g = gap(analytic, numeric, tol)
        worst = max(worst, g.rel_err if g.abs_err > tol.atol else 0.0)
        if not g.ok:
            raise violation(
                f"{port.port_id}: the gradient of {name} does not match central finite "
                "differences of the loss.", "gradients", port.port_id, name, example,
                "fix the backward pass (or loss_and_grads' parameter mapping) for "
                f"{name}.", **{**gap_lines(g, tol), "at index": coords[g.index[0]]},
                step=f"eps {eps:g} (float64)")
    port.set_params(base)
    return worst


def _coordinates(shape: tuple[int, ...], count: int, rng: np.random.Generator
                 ) -> list[tuple[int, ...]]:
    size = int(np.prod(shape))
    flat = range(size) if size <= count else rng.choice(size, count, replace=False)
    return [tuple(int(i) for i in np.unravel_index(int(f), shape)) for f in flat]


def _central_difference(port: Port, base: Params, name: str, coord: tuple[int, ...],
                        eps: float, batch: Batch) -> float:
    losses = []
    for sign in (1.0, -1.0):
        moved = np.array(base[name], dtype=np.float64, copy=True)
        moved[coord] += sign * eps
        port.set_params({**base, name: moved})
        losses.append(port.loss_and_grads(batch)[0])
    return (losses[0] - losses[1]) / (2 * eps)


# ----------------------------------------------------------------------------- truncation
def check_truncation(port: Port, example: Example, first: Batch, second: Batch) -> float:
    """With the port's cut, the gradient of the next batch's loss w.r.t. the state before
    the cut is exactly zero; without the cut it is not (so the probe can see a leak).
    Returns the largest gradient magnitude seen without the cut."""
    grads_of = hook(port, "truncation_grads", "the truncation check")
    cut: Mapping[str, np.ndarray] = grads_of(first, second, cut=True)
    uncut: Mapping[str, np.ndarray] = grads_of(first, second, cut=False)
    for name, grad in cut.items():
        grad = np.asarray(grad)
        if np.any(grad != 0):
            idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(grad))),
                                                        grad.shape))
            raise violation(
                f"{port.port_id}: gradient flows back through the state cut into "
                f"{name}.", "truncation", port.port_id, name, example,
                "detach (re-wrap) the hidden state where the tutorial cuts it.",
                **{"largest leak": f"{np.abs(grad).max():.3g} at {idx}"})
    largest = max(float(np.abs(np.asarray(g)).max()) for g in uncut.values())
    if largest == 0:
        raise violation(
            f"{port.port_id}: without the cut the gradient w.r.t. the earlier state "
            "is zero too, so the truncation check cannot see anything.", "truncation",
            port.port_id, ", ".join(uncut), example,
            "make truncation_grads(cut=False) keep the graph across the batches.")
    return largest


# ------------------------------------------------------------------------------- clipping
def check_clipping(port: Port, example: Example, grads: Params, theta: float) -> None:
    """After the port's clipping to ``theta`` the global norm is <= theta (rounding allowed)
    and the direction is unchanged; gradients with a norm below theta are untouched."""
    clip = hook(port, "clip_grads", "the clipping check")
    clipped: Params = clip({k: np.array(v) for k, v in grads.items()}, theta)
    norm = _global_norm(grads)
    new_norm = _global_norm(clipped)
    where = f"theta {theta:.6g}, norm before {norm:.6g}, after {new_norm:.6g}"
    if norm <= theta:
        for name, g in grads.items():
            if not np.array_equal(clipped[name], g):
                raise violation(
                    f"{port.port_id}: clipping changed {name} although the global norm "
                    "was already below theta.", "clipping", port.port_id, name, example,
                    "leave gradients untouched when their global norm <= theta.",
                    norms=where)
        return
    if new_norm > theta * (1 + 1e-5):
        raise violation(
            f"{port.port_id}: the clipped global norm exceeds theta.", "clipping",
            port.port_id, "all", example, "scale every gradient by theta / global norm.",
            norms=where)
    scale = theta / norm
    tol = Tolerance(rtol=1e-5, atol=1e-7 * theta)
    for name, g in grads.items():
        gp = gap(clipped[name], np.asarray(g, dtype=np.float64) * scale, tol)
        if not gp.ok:
            raise violation(
                f"{port.port_id}: clipping changed the direction of {name}.",
                "clipping", port.port_id, name, example, "use one global scale "
                "factor for every parameter (not a per-parameter norm).",
                norms=where,
                **gap_lines(gp, tol))


def _global_norm(grads: Mapping[str, np.ndarray]) -> float:
    return float(np.sqrt(sum(np.sum(np.asarray(g, dtype=np.float64) ** 2)
                             for g in grads.values())))
