"""my_sine in numpy: the adapter the spec's Schedule drives (forward, backward through
the window, SGD). Everything is float64; the loop, data and parameter table are the
spec's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.backends import numpy_backend as nb
from my_sine.spec import Config


class MySineNumpy:
    port_id = "my_sine/numpy"
    framework = "numpy"
    backend = nb

    def build(self, config: Config, seed: int, device: str, data: Mapping[str, Any]) -> None:
        nb.device(device)
        self.config = config
        rng = np.random.default_rng(seed)
        h, bound = config.hidden, 1.0 / np.sqrt(config.hidden)
        self.params = {"W_xh": rng.uniform(-bound, bound, (1, h)),
                       "W_hh": rng.uniform(-bound, bound, (h, h)),
                       "b_h": np.zeros(h),
                       "W_hq": rng.uniform(-bound, bound, (h, 1)),
                       "b_q": np.zeros(1)}
        self._grads: dict[str, np.ndarray] = {}

    def tensors(self) -> dict[str, np.ndarray]:
        return self.params

    def grads(self) -> dict[str, np.ndarray]:
        return self._grads

    def zero_state(self, batch_size: int) -> np.ndarray:
        return np.zeros((batch_size, self.config.hidden))

    def _run(self, x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Predictions (T, 1) and the states h_0..h_T, each (1, H)."""
        p = self.params
        states = [h]
        for t in range(len(x)):
            h = np.tanh(x[t:t + 1] @ p["W_xh"] + h @ p["W_hh"] + p["b_h"])
            states.append(h)
        return np.concatenate(states[1:]) @ p["W_hq"] + p["b_q"], states

    def forward_loss(self, batch: Mapping[str, np.ndarray], state: np.ndarray
                     ) -> tuple[float, np.ndarray]:
        x, y = np.asarray(batch["x"]), np.asarray(batch["y"])
        pred, states = self._run(x, state)
        err = pred - y
        self._tape = (x, states, err)  # what backward needs: numpy has no autograd
        return 0.5 * float(np.mean(err ** 2)), states[-1]

    def backward(self, loss: float) -> None:
        """Backpropagation through the window; it stops at the window's initial state."""
        x, states, err = self._tape
        p = self.params
        d_pred = err / len(x)  # (T, 1)
        g = {k: np.zeros_like(v) for k, v in p.items()}
        g["W_hq"] = np.concatenate(states[1:]).T @ d_pred
        g["b_q"] = d_pred.sum(axis=0)
        d_next = np.zeros_like(states[0])
        for t in reversed(range(len(x))):
            da = (d_pred[t:t + 1] @ p["W_hq"].T + d_next) * (1 - states[t + 1] ** 2)  # (1, H)
            g["W_xh"] += x[t:t + 1].T @ da
            g["W_hh"] += states[t].T @ da
            g["b_h"] += da[0]
            d_next = da @ p["W_hh"].T
        self._grads = g

    def update(self) -> None:
        lr = self.config.lr
        for name, param in self.params.items():
            param -= lr * self._grads[name]  # in place: tensors() hands out these arrays

    @staticmethod
    def cut(state: np.ndarray) -> np.ndarray:
        return state.copy()  # backward never reaches past a window's initial state

    @staticmethod
    def loss_value(loss: float) -> float:
        return float(loss)

    def forward(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = np.asarray(batch["x"])
        h0 = np.asarray(batch["h0"]) if "h0" in batch else self.zero_state(1)
        pred, states = self._run(x, h0)
        return {"y": pred, "h": states[-1]}

    def loss_and_grads(self, batch: Mapping[str, np.ndarray]) -> tuple[float, dict[str, Any]]:
        h0 = np.asarray(batch["h0"]) if "h0" in batch else self.zero_state(1)
        loss, _ = self.forward_loss(batch, h0)
        self.backward(loss)
        return loss, {k: v.copy() for k, v in self._grads.items()}

    def to_float64(self) -> None:
        """Already float64 (the finite-difference check asks every port for it)."""
