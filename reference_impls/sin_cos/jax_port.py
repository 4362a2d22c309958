"""sin_cos in JAX: the article's RNN + per-step read-out as pure functions, optax's Adam.

An adapter: the loop is ``spec.Schedule``. There is no JAX original: with its own seed it
draws all six parameters from U(-1/sqrt(H), 1/sqrt(H)) with ``jax.random`` (torch's law
for H = 32, in torch's order), so its golden is its own; loaded with the torch port's
weights it follows the torch trajectory within ``spec.CROSS_FRAMEWORK``.

``forward_loss`` takes ``value_and_grad`` of the step (new state and prediction as aux)
and keeps the gradients; ``backward`` has nothing left to do. ``cut`` is
``stop_gradient``: the carried h_state is a concrete array between steps, a constant of
the next step's function (the article's ``h_state.data``); in ``truncation_grads``' traced
two-window function the same call cuts the graph. ``optax.adam`` adds eps where torch does
(``m_hat / (sqrt(v_hat) + eps)``); only rounding differs (v_hat is divided before the
sqrt, the bias corrections are float32, not Python floats).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from harness.backends import jax_backend as jb
from harness.interface import Batch, Params
from reference_impls.sin_cos import spec

Weights = dict[str, Any]  # canonical names: W_xh (I, H), W_hh (H, H), b_xh, b_hh, W_hq, b_q


def _forward(w: Weights, x: Any, h0: Any) -> tuple[Any, Any]:
    """x (B, T, I) batch-first, h0 (1, B, H) -> prediction (B, T, 1), h (1, B, H)."""
    r_out, h = jb.rnn_tanh(jnp.swapaxes(x, 0, 1), h0[0], w["W_xh"], w["W_hh"], w["b_xh"],
                           w["b_hh"])  # (T, B, H), (B, H)
    return jnp.swapaxes(r_out, 0, 1) @ w["W_hq"] + w["b_q"], h[None]


def _loss(w: Weights, x: Any, y: Any, h0: Any) -> tuple[Any, tuple[Any, Any]]:
    prediction, h = _forward(w, x, h0)
    return jnp.mean((prediction - y) ** 2), (h, prediction)  # MSELoss: mean over T points


def _cut(state: Any) -> Any:
    return jax.lax.stop_gradient(state)


def _two_windows(h0: Any, w: Weights, first: tuple[Any, Any], second: tuple[Any, Any],
                 cut: bool) -> Any:
    _, h = _forward(w, first[0], h0)
    return _loss(w, second[0], second[1], _cut(h) if cut else h)[0]


_value_and_grad = jax.jit(jax.value_and_grad(_loss, has_aux=True))
_predict = jax.jit(_forward)


def _adam_step(opt: optax.GradientTransformation, w: Weights, grads: Weights, state: Any
               ) -> tuple[Weights, Any]:
    updates, state = opt.update(grads, state, w)
    return optax.apply_updates(w, updates), state


class SinCosJax:
    port_id = "sin_cos/jax"
    framework = "jax"
    backend = jb

    def build(self, config: spec.Config, seed: int, device: str, data: Mapping[str, Any]
              ) -> None:
        self.config, self.device, self.dtype = config, jb.device(device), jnp.float32
        i, h = config.input_size, config.hidden_size
        shapes = {"W_xh": (i, h), "W_hh": (h, h), "b_xh": (h,), "b_hh": (h,),
                  "W_hq": (h, 1), "b_q": (1,)}  # torch's draw order
        bound = 1.0 / math.sqrt(h)
        keys = jax.random.split(jb.key(seed), len(shapes))
        self.params: Weights = {
            name: self._t(jax.random.uniform(k, shape, self.dtype, -bound, bound))
            for k, (name, shape) in zip(keys, shapes.items(), strict=True)}
        opt = optax.adam(config.lr, b1=config.beta1, b2=config.beta2, eps=config.eps)
        self.opt_state = opt.init(self.params)
        self._adam = jax.jit(partial(_adam_step, opt))
        self._grads: Weights | None = None
        self.prediction: Any = None

    def _t(self, array: Any) -> Any:
        return jb.tensor(array, self.device, self.dtype)

    # -- the schedule's operations -----------------------------------------------------
    def zero_state(self, batch_size: int) -> Any:
        return self._t(np.zeros((1, batch_size, self.config.hidden_size)))  # h_state = None

    def forward_loss(self, batch: Batch, state: Any) -> tuple[Any, Any]:
        (loss, (h_state, self.prediction)), self._grads = _value_and_grad(
            self.params, self._t(batch["x"]), self._t(batch["y"]), state)
        return loss, h_state

    def backward(self, loss: Any) -> None:
        self.grads()  # taken by forward_loss

    def update(self) -> None:
        self.params, self.opt_state = self._adam(self.params, self.grads(), self.opt_state)
        self._grads = None

    cut = staticmethod(_cut)

    @staticmethod
    def loss_value(loss: Any) -> float:
        return float(loss)

    def last_prediction(self) -> np.ndarray:
        if self.prediction is None:
            raise ValueError("last_prediction() before forward_loss")
        return np.asarray(self.prediction)

    def tensors(self) -> dict[str, jb.Slot]:
        return jb.slots(self.params)

    def grads(self) -> Weights:
        if self._grads is None:
            raise RuntimeError("no gradients: call forward_loss() first")
        return dict(self._grads)

    def optimizer_state(self) -> tuple[dict[str, dict[str, jb.Slot]], dict[str, Any]]:
        """optax Adam's moments by storage name, and its step count (checkpoints)."""
        return jb.adam_state(self.opt_state)

    def load_optimizer_state(self, slots: Mapping[str, Mapping[str, np.ndarray]],
                             scalars: Mapping[str, Any]) -> None:
        self.opt_state = jb.with_adam_state(self.opt_state, slots, int(scalars["step"]))

    def state_from_numpy(self, parts: list[np.ndarray]) -> list[Any]:
        """The carried hidden state (1, B, H) as ``cut`` leaves it."""
        return [self._t(part) for part in parts]

    # -- numpy entry points ------------------------------------------------------------
    def _inputs(self, batch: Batch) -> tuple[Any, Any]:
        x = self._t(batch["x"])
        h0 = batch["h0"] if "h0" in batch else np.zeros((1, x.shape[0], self.config.hidden_size))
        return x, self._t(h0)

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        y, h = _predict(self.params, *self._inputs(batch))
        return {"y": np.asarray(y), "h": np.asarray(h)}

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """The article's MSE loss on ``batch`` and its gradients (training state untouched)."""
        x, h0 = self._inputs(batch)
        (loss, _), grads = _value_and_grad(self.params, x, self._t(batch["y"]), h0)
        return float(loss), {name: np.asarray(g) for name, g in grads.items()}

    # -- optional hooks of the invariant checks ----------------------------------------
    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        jb.allow_float64()
        self.dtype = jnp.float64
        self.params = {k: self._t(v) for k, v in self.params.items()}

    def truncation_grads(self, first: Batch, second: Batch, cut: bool = True
                         ) -> dict[str, np.ndarray]:
        """d (loss on ``second``) / d (``first``'s h0), the state carried from ``first``
        with the training loop's cut (``cut``) or without it."""
        x1, h0 = self._inputs(first)
        second_xy = (self._t(second["x"]), self._t(second["y"]))
        grad = jax.grad(_two_windows)(h0, self.params, (x1,), second_xy, cut)
        return {"h0": np.asarray(grad)}
