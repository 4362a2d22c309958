"""Training observables: what a schedule reports besides its tutorial's own figure.

Per step: the global gradient norm before clipping, whether the step was clipped, the
parameter norm after the update and the update's norm ``||theta_after - theta_before||``.
Per epoch: their mean/max/fraction. They make silent changes visible (a removed clipping
call, a changed threshold) where the tutorial's figure alone moves too late. Norms are
computed by the framework's backend in float64, so observing never changes the training
arithmetic; where the backend has a ``StepRecorder`` (torch on the CPU) a step only copies
its tensors and the norms of many steps are computed at once, with the same bits.
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

    A backend with a ``StepRecorder`` (torch on the CPU) copies what a step shows and
    computes the norms of many steps at once, when an epoch ends, ``steps`` is read or its
    tapes are full; any other backend measures each step at once (``_EagerRecorder``).
    Either way the values are those of the backend's ``global_norm``/``distance``.
    """

    active = True

    def __init__(self, keep_steps: bool = False, max_steps: int | None = None):
        self.keep_steps = keep_steps
        self.max_steps = max_steps
        self._steps: list[dict[str, float]] = []
        self._epoch: list[dict[str, float]] = []
        self._losses: list[float] = []
        self._recorder: Any = None
        self._in_step = False  # between gradients() and step(): the tapes hold half a step
        self.clips = False

    @property
    def steps(self) -> list[dict[str, float]]:
        """Every observed step's row (``keep_steps``), measured up to the last finished step."""
        if not self._in_step:
            self._flush()
        return self._steps

    def _recorder_for(self, ad: Adapter) -> Any:
        backend: Any = ad.backend
        make = getattr(backend, "StepRecorder", None)
        self._recorder = make() if make is not None else _EagerRecorder(backend)
        return self._recorder

    def gradients(self, ad: Adapter) -> None:
        recorder = self._recorder or self._recorder_for(ad)
        recorder.gradients(list(_member(ad, "grads")().values()), list(ad.tensors().values()))
        self._in_step = True

    def clipped(self, ad: Adapter) -> None:
        """After the tutorial's clipping: whether it changed the gradients, measured on the
        gradients themselves (so a clipping call that was removed shows as never clipping,
        whatever the clip function returns)."""
        self.clips = True
        recorder = self._recorder or self._recorder_for(ad)
        recorder.clipped(list(_member(ad, "grads")().values()))

    def step(self, ad: Adapter, loss: float) -> None:
        recorder = self._recorder or self._recorder_for(ad)
        recorder.step(list(ad.tensors().values()))
        self._in_step = False
        self._losses.append(float(loss))
        if recorder.full:
            self._flush()
        if (self.max_steps is not None and self.keep_steps
                and len(self._steps) + len(self._losses) >= self.max_steps):
            self._flush()
            raise StepLimitReached

    def _flush(self) -> None:
        """Rows for the steps recorded but not yet measured, in the order ``step`` wrote
        them before (loss, grad_norm[, clipped], param_norm, update_norm[, clipped])."""
        if not self._losses:
            return
        losses, self._losses = self._losses, []
        for loss, (grad, post, param, update) in zip(losses, self._recorder.results(),
                                                     strict=True):
            if post is None:
                row = {"loss": loss, "grad_norm": grad, "param_norm": param,
                       "update_norm": update, "clipped": 0.0}
            else:
                row = {"loss": loss, "grad_norm": grad,
                       "clipped": float(post < grad * (1 - 1e-6)), "param_norm": param,
                       "update_norm": update}
            self._epoch.append(row)
            if self.keep_steps:
                self._steps.append(row)

    def epoch(self) -> dict[str, float]:
        self._flush()
        rows, self._epoch = self._epoch, []
        if not rows:
            return {}
        grad = [r["grad_norm"] for r in rows]
        out = {"grad_norm_mean": math.fsum(grad) / len(grad), "grad_norm_max": max(grad),
               "clip_fraction": math.fsum(r["clipped"] for r in rows) / len(rows),
               "param_norm": rows[-1]["param_norm"],
               "update_norm_mean": math.fsum(r["update_norm"] for r in rows) / len(rows)}
        return out


class _EagerRecorder:
    """Each step measured when it happens with the backend's ``global_norm``, ``snapshot``
    and ``distance`` (backends without a ``StepRecorder``)."""

    full = False

    def __init__(self, backend: Any):
        self.backend = backend
        self._current: dict[str, Any] = {}
        self._rows: list[tuple[float, float | None, float, float]] = []

    def gradients(self, grads: list[Any], params: list[Any]) -> None:
        self._current = {"grad": self.backend.global_norm(grads),
                         "before": self.backend.snapshot(params)}

    def clipped(self, grads: list[Any]) -> None:
        self._current["post"] = self.backend.global_norm(grads)

    def step(self, params: list[Any]) -> None:
        current, self._current = self._current, {}
        self._rows.append((current["grad"], current.get("post"),
                           self.backend.global_norm(params),
                           self.backend.distance(current["before"], params)))

    def results(self) -> list[tuple[float, float | None, float, float]]:
        rows, self._rows = self._rows, []
        return rows


def _member(ad: Adapter, name: str) -> Any:
    member = getattr(ad, name, None)
    if member is None:
        raise TypeError(f"{ad.port_id}: observing training needs the adapter member {name!r} "
                        "(see harness.interface.Adapter)")
    return member
