"""Training observables: what a schedule reports besides its tutorial's own figure.

Per step: the global gradient norm before clipping, whether the step was clipped, the
parameter norm after the update and the update's norm ``||theta_after - theta_before||``.
Per epoch: their mean/max/fraction. They make silent changes visible (a removed clipping
call, a changed threshold) where the tutorial's figure alone moves too late. Norms are
computed by the framework's backend in float64 on the device, so observing costs a few
reductions per step and never changes the training arithmetic.
"""

from __future__ import annotations

import math
from typing import Any

from harness.interface._port import Adapter

#: Per-epoch observable columns, in the order they are recorded.
EPOCH_OBSERVABLES = ("grad_norm_mean", "grad_norm_max", "clip_fraction", "param_norm",
                     "update_norm_mean")
#: Per-step observable columns (segments record these for every step).
STEP_OBSERVABLES = ("loss", "grad_norm", "clipped", "param_norm", "update_norm")


class StepLimitReached(Exception):  # noqa: N818 (a signal, not an error)
    """Raised by an ``Observer`` with ``max_steps`` once that many steps are observed: a
    segment that gates only its first steps stops training there."""


class NullObserver:
    """Observes nothing (what a schedule gets when no one reads the observables)."""

    active = False

    def gradients(self, ad: Adapter) -> None:
        pass

    def clipped(self, ad: Adapter) -> None:
        pass

    def step(self, ad: Adapter, loss: float) -> None:
        pass

    def epoch(self) -> dict[str, float]:
        return {}


class Observer(NullObserver):
    """Collects the observables of every step; ``epoch()`` closes an epoch.

    The schedule calls, per step: ``gradients(ad)`` after backward (before any clipping),
    ``clipped(ad)`` after the tutorial's clipping, ``step(ad, loss)`` after the update.
    ``steps`` keeps every step's values when ``keep_steps`` (segments need them).
    """

    active = True

    def __init__(self, keep_steps: bool = False, max_steps: int | None = None):
        self.keep_steps = keep_steps
        self.max_steps = max_steps
        self.steps: list[dict[str, float]] = []
        self._epoch: list[dict[str, float]] = []
        self._current: dict[str, float] = {}
        self._before: Any = None
        self.clips = False

    def gradients(self, ad: Adapter) -> None:
        backend: Any = ad.backend
        grads = _member(ad, "grads")()
        tensors = ad.tensors()
        self._current = {"grad_norm": backend.global_norm(list(grads.values()))}
        self._before = backend.snapshot(list(tensors.values()))

    def clipped(self, ad: Adapter) -> None:
        """After the tutorial's clipping: whether it changed the gradients, measured on the
        gradients themselves (so a clipping call that was removed shows as never clipping,
        whatever the clip function returns)."""
        backend: Any = ad.backend
        post = backend.global_norm(list(_member(ad, "grads")().values()))
        self.clips = True
        self._current["clipped"] = float(post < self._current["grad_norm"] * (1 - 1e-6))

    def step(self, ad: Adapter, loss: float) -> None:
        backend: Any = ad.backend
        after = list(ad.tensors().values())
        row = {"loss": float(loss), **self._current,
               "param_norm": backend.global_norm(after),
               "update_norm": backend.distance(self._before, after)}
        row.setdefault("clipped", 0.0)
        self._epoch.append(row)
        if self.keep_steps:
            self.steps.append(row)
        self._current, self._before = {}, None
        if self.max_steps is not None and len(self.steps) >= self.max_steps:
            raise StepLimitReached

    def epoch(self) -> dict[str, float]:
        rows, self._epoch = self._epoch, []
        if not rows:
            return {}
        grad = [r["grad_norm"] for r in rows]
        out = {"grad_norm_mean": math.fsum(grad) / len(grad), "grad_norm_max": max(grad),
               "clip_fraction": math.fsum(r["clipped"] for r in rows) / len(rows),
               "param_norm": rows[-1]["param_norm"],
               "update_norm_mean": math.fsum(r["update_norm"] for r in rows) / len(rows)}
        return out


def _member(ad: Adapter, name: str) -> Any:
    member = getattr(ad, name, None)
    if member is None:
        raise TypeError(f"{ad.port_id}: observing training needs the adapter member {name!r} "
                        "(see harness.interface.Adapter)")
    return member
