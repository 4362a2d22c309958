"""The training observer (``harness.interface._observe``): what each step and each epoch
reports, whichever recorder measured it (here the eager one, on the numpy backend)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.backends import numpy_backend
from harness.interface._observe import EPOCH_OBSERVABLES, Observer, StepLimitReached


class _Adapter:
    port_id, backend = "toy/numpy", numpy_backend

    def __init__(self) -> None:
        self.w = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
        self.g = np.zeros((2, 3))

    def tensors(self) -> dict[str, np.ndarray]:
        return {"w": self.w}

    def grads(self) -> dict[str, np.ndarray]:
        return {"w": self.g}


def _train(observer: Observer, steps: int, clip_every: int = 0) -> list[dict[str, float]]:
    """SGD steps on a toy weight; gradients halved by a 'clipping' every ``clip_every``."""
    ad, epochs = _Adapter(), []
    for k in range(steps):
        ad.g[...] = np.cos(np.arange(6.0).reshape(2, 3) + k) * (k + 1)
        observer.gradients(ad)
        if clip_every:
            if k % clip_every == 0:
                ad.g *= 0.5
            observer.clipped(ad)
        ad.w -= 0.1 * ad.g
        observer.step(ad, float(k))
        if k % 4 == 3:
            epochs.append(observer.epoch())
    epochs.append(observer.epoch())
    return epochs


def test_an_epoch_reports_the_mean_max_and_last_of_its_steps():
    observer = Observer(keep_steps=True)
    epochs = _train(observer, 10, clip_every=3)
    rows = observer.steps
    assert len(rows) == 10 and [len(e) for e in epochs] == [5, 5, 5]
    for e, part in zip(epochs, (rows[0:4], rows[4:8], rows[8:10]), strict=True):
        grad = [r["grad_norm"] for r in part]
        assert list(e) == list(EPOCH_OBSERVABLES)
        assert e == {"grad_norm_mean": math.fsum(grad) / len(part), "grad_norm_max": max(grad),
                     "clip_fraction": math.fsum(r["clipped"] for r in part) / len(part),
                     "param_norm": part[-1]["param_norm"],
                     "update_norm_mean": math.fsum(r["update_norm"] for r in part) / len(part)}


def test_a_step_is_clipped_only_where_the_clipping_shrank_its_gradients():
    observer = Observer(keep_steps=True)
    _train(observer, 6, clip_every=2)
    assert [r["clipped"] for r in observer.steps] == [1.0, 0.0] * 3
    assert list(observer.steps[0]) == ["loss", "grad_norm", "clipped", "param_norm",
                                       "update_norm"]
    unclipped = Observer(keep_steps=True)
    _train(unclipped, 2)
    assert list(unclipped.steps[0]) == ["loss", "grad_norm", "param_norm", "update_norm",
                                        "clipped"]
    assert [r["clipped"] for r in unclipped.steps] == [0.0, 0.0]


def test_each_step_s_values_are_the_backend_s_norms():
    observer, ad, want = Observer(keep_steps=True), _Adapter(), []
    for k in range(5):
        ad.g[...] = k - 2.5
        observer.gradients(ad)
        before = numpy_backend.snapshot([ad.w])
        ad.w -= 0.1 * ad.g
        observer.step(ad, 0.5 * k)
        want.append({"loss": 0.5 * k, "grad_norm": numpy_backend.global_norm([ad.g]),
                     "param_norm": numpy_backend.global_norm([ad.w]),
                     "update_norm": numpy_backend.distance(before, [ad.w]), "clipped": 0.0})
    assert observer.steps == want


def test_a_step_limit_stops_training_with_every_observed_step_kept():
    observer = Observer(keep_steps=True, max_steps=3)
    with pytest.raises(StepLimitReached):
        _train(observer, 10)
    assert [r["loss"] for r in observer.steps] == [0.0, 1.0, 2.0]


def test_an_observer_without_kept_steps_keeps_no_rows():
    observer = Observer()
    epochs = _train(observer, 5)
    assert observer.steps == [] and epochs[0]["param_norm"] > 0
