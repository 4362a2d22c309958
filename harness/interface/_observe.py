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
        # this epoch's measured steps, a list per observable
        self._grad: list[float] = []
        self._clipped: list[float] = []
        self._param: list[float] = []
        self._update: list[float] = []
        self._losses: list[float] = []  # steps recorded, not yet measured
        self._recorder: Any = None
        self._ad: Any = None  # the adapter whose members are bound below
        self._grads: Any = None
        self._tensors: Any = None
        self._in_step = False  # between gradients() and step(): the tapes hold half a step
        self.clips = False

    @property
    def steps(self) -> list[dict[str, float]]:
        """Every observed step's row (``keep_steps``), measured up to the last finished step."""
        if not self._in_step:
            self._flush()
        return self._steps

    def _bind(self, ad: Adapter) -> Any:
        """The recorder (made once) and ``ad``'s ``grads``/``tensors``, looked up once per
        adapter (a schedule may pass another object on some steps)."""
        if self._recorder is None:
            backend: Any = ad.backend
            make = getattr(backend, "StepRecorder", None)
            self._recorder = make() if make is not None else _EagerRecorder(backend)
        self._ad, self._grads, self._tensors = ad, _member(ad, "grads"), ad.tensors
        return self._recorder

    def gradients(self, ad: Adapter) -> None:
        recorder = self._recorder if ad is self._ad else self._bind(ad)
        recorder.gradients(list(self._grads().values()), list(self._tensors().values()))
        self._in_step = True

    def clipped(self, ad: Adapter) -> None:
        """After the tutorial's clipping: whether it changed the gradients, measured on the
        gradients themselves (so a clipping call that was removed shows as never clipping,
        whatever the clip function returns)."""
        self.clips = True
        recorder = self._recorder if ad is self._ad else self._bind(ad)
        recorder.clipped(list(self._grads().values()))

    def step(self, ad: Adapter, loss: float) -> None:
        recorder = self._recorder if ad is self._ad else self._bind(ad)
        recorder.step(list(self._tensors().values()))
        self._in_step = False
        self._losses.append(float(loss))
        if recorder.full:
            self._flush()
        if (self.max_steps is not None and self.keep_steps
                and len(self._steps) + len(self._losses) >= self.max_steps):
            self._flush()
            raise StepLimitReached

    def _flush(self) -> None:
        """Measure the steps recorded but not yet measured, in the order they were taken
        (rows, when kept, as ``step`` wrote them before: loss, grad_norm[, clipped],
        param_norm, update_norm[, clipped])."""
        if not self._losses:
            return
        losses, self._losses = self._losses, []
        columns = getattr(self._recorder, "columns", None)
        if columns is not None:
            grad, post, param, update = columns()
        else:
            rows = self._recorder.results()
            grad, post, param, update = ([r[k] for r in rows] for k in range(4))
        if len(grad) != len(losses):
            raise RuntimeError(f"the recorder measured {len(grad)} steps for {len(losses)} "
                               "recorded")
        clipped = [0.0 if p is None else float(p < g * (1 - 1e-6))
                   for g, p in zip(grad, post, strict=True)]
        self._grad += grad
        self._clipped += clipped
        self._param += param
        self._update += update
        if self.keep_steps:
            self._steps += [
                {"loss": loss, "grad_norm": g, "param_norm": pn, "update_norm": u,
                 "clipped": 0.0} if p is None else
                {"loss": loss, "grad_norm": g, "clipped": c, "param_norm": pn,
                 "update_norm": u}
                for loss, g, p, c, pn, u in zip(losses, grad, post, clipped, param, update,
                                                strict=True)]

    def epoch(self) -> dict[str, float]:
        self._flush()
        grad, n = self._grad, len(self._grad)
        if not n:
            return {}
        out = {"grad_norm_mean": math.fsum(grad) / n, "grad_norm_max": max(grad),
               "clip_fraction": math.fsum(self._clipped) / n, "param_norm": self._param[-1],
               "update_norm_mean": math.fsum(self._update) / n}
        self._grad, self._clipped, self._param, self._update = [], [], [], []
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
