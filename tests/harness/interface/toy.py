"""A numpy adapter and schedule ("toy"), so SpecPort, checkpoints, observables and
segments are tested without a framework.

One tanh cell, its state carried across steps and epochs and cut after every step (like
elman_sine), Adam, data order shuffled every epoch by the schedule's RNG, gradients
clipped to a global norm. Storage is deliberately awkward: the input and recurrent
weights share one matrix (``w[:I]`` / ``w[I:]``) and the read-out is stored transposed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.backends import numpy_backend as nb
from harness.interface import (
    EpochRecord,
    Loop,
    Param,
    ParamTable,
    Tolerance,
    TutorialSpec,
)


@dataclass(frozen=True)
class ToyConfig:
    epochs: int = 12
    lr: float = 0.05
    n: int = 6
    inputs: int = 2
    hidden: int = 3
    clip_theta: float = 0.5


PARAMS = ParamTable((
    Param("W_xh", "(I, H)", {"numpy": "w[:2]"}),
    Param("W_hh", "(H, H)", {"numpy": "w[2:]"}),
    Param("W_hq", "(H, 1)", {"numpy": "v.T"}),
))


class ToySchedule:
    def prepare(self, config: ToyConfig, seed: int) -> Loop:
        rng = np.random.default_rng(1000 + seed)
        x = rng.normal(size=(config.n, 1, config.inputs))
        y = np.sin(x.sum(axis=2))
        return Loop(data={"x": x, "y": y}, rng=random.Random(seed))

    def epochs(self, ad: Any, config: ToyConfig, loop: Loop) -> Iterator[EpochRecord]:
        obs = loop.observer
        while loop.epoch < config.epochs:
            assert loop.rng is not None
            order = list(range(config.n))
            loop.rng.shuffle(order)  # the data order: drawn every epoch
            total = 0.0
            for i in order:
                state = loop.carry if loop.carry is not None else ad.zero_state(1)
                loss, state = ad.forward_loss({"x": loop.data["x"][i],
                                               "y": loop.data["y"][i]}, state)
                ad.backward(loss)
                obs.gradients(ad)
                ad.clip(config.clip_theta)
                obs.clipped(ad)
                ad.update()
                value = ad.loss_value(loss)
                obs.step(ad, value)
                total += value
                loop.carry = ad.cut(state)  # carried to the next step and epoch
            loop.epoch += 1
            loop.extra["last_order"] = order
            yield EpochRecord(metrics={"loss": total, **obs.epoch()}, items=config.n)

    def outputs(self, ad: Any, config: ToyConfig, loop: Loop) -> dict[str, Any]:
        return {"y": ad.forward({"x": loop.data["x"][0]})["y"].ravel().tolist()}


class ToyAdapter:
    port_id = "toy/numpy"
    framework = "numpy"
    backend = nb

    def build(self, config: ToyConfig, seed: int, device: str, data: Mapping[str, Any]
              ) -> None:
        nb.device(device)
        self.config = config
        rng = np.random.default_rng(seed)
        i, h = config.inputs, config.hidden
        self.w = rng.normal(0, 0.5, size=(i + h, h))
        self.v = rng.normal(0, 0.5, size=(1, h))  # stored (out, in), like torch's Linear
        self.m = {k: np.zeros_like(t) for k, t in self.tensors().items()}
        self.s = {k: np.zeros_like(t) for k, t in self.tensors().items()}
        self.t = 0
        self._grads: dict[str, np.ndarray] = {}

    def tensors(self) -> dict[str, np.ndarray]:
        return {"w": self.w, "v": self.v}

    def zero_state(self, batch_size: int) -> np.ndarray:
        return np.zeros((batch_size, self.config.hidden))

    def _forward(self, x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xh = np.concatenate([x, h], axis=1)
        h_new = np.tanh(xh @ self.w)
        return h_new @ self.v.T, h_new

    def forward_loss(self, batch: Mapping[str, np.ndarray], state: np.ndarray
                     ) -> tuple[Any, np.ndarray]:
        x, y = np.asarray(batch["x"]), np.asarray(batch["y"])
        xh = np.concatenate([x, state], axis=1)
        pred, h = self._forward(x, state)
        err = pred - y
        loss = float(0.5 * np.mean(err ** 2))
        dp = err / err.size
        dv = (h.T @ dp).T
        da = (dp @ self.v) * (1 - h ** 2)
        self._pending = {"w": xh.T @ da, "v": dv}
        return loss, h

    def backward(self, loss: Any) -> None:
        self._grads = self._pending

    def grads(self) -> dict[str, np.ndarray]:
        return self._grads

    def clip(self, theta: float) -> float:
        norm = nb.global_norm(list(self._grads.values()))
        if norm > theta:
            self._grads = {k: g * (theta / norm) for k, g in self._grads.items()}
        return norm

    def update(self) -> None:
        self.t += 1
        b1, b2, eps, lr = 0.9, 0.999, 1e-8, self.config.lr
        for k, p in self.tensors().items():
            g = self._grads[k]
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.s[k] = b2 * self.s[k] + (1 - b2) * g * g
            m_hat, s_hat = self.m[k] / (1 - b1 ** self.t), self.s[k] / (1 - b2 ** self.t)
            p -= lr * m_hat / (np.sqrt(s_hat) + eps)

    @staticmethod
    def cut(state: np.ndarray) -> np.ndarray:
        return state.copy()

    @staticmethod
    def loss_value(loss: Any) -> float:
        return float(loss)

    def forward(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        pred, h = self._forward(np.asarray(batch["x"]), self.zero_state(1))
        return {"y": pred, "h": h}

    def loss_and_grads(self, batch: Mapping[str, np.ndarray]) -> tuple[float, dict[str, Any]]:
        loss, _ = self.forward_loss(batch, self.zero_state(1))
        return loss, {}

    # -- checkpoint members ---------------------------------------------------------------
    def optimizer_state(self) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
        return {"exp_avg": self.m, "exp_avg_sq": self.s}, {"step": self.t}

    def load_optimizer_state(self, slots: Mapping[str, Mapping[str, np.ndarray]],
                             scalars: Mapping[str, Any]) -> None:
        self.m = {k: np.array(v) for k, v in slots["exp_avg"].items()}
        self.s = {k: np.array(v) for k, v in slots["exp_avg_sq"].items()}
        self.t = int(scalars["step"])

    @staticmethod
    def state_from_numpy(parts: list[np.ndarray]) -> list[np.ndarray]:
        return [np.array(p) for p in parts]


SPEC = TutorialSpec(name="toy", source="tests/harness/interface/toy.py",
                    profiles={"tutorial": ToyConfig(), "ci": ToyConfig(epochs=4)},
                    metrics=("loss",), tolerances={"default": Tolerance(rtol=1e-12)},
                    default_seed=5, schedule=ToySchedule(), params={"": PARAMS})
