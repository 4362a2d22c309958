"""elman_sine in JAX: the article's arithmetic as pure functions of a parameter dict.

An adapter: the loop is ``spec.Schedule``. There is no JAX original: with its own seed it
draws w1 then w2 from ``jax.random`` (normal, the article's stds), so its golden is its own;
loaded with the torch port's weights it follows the torch trajectory within
``spec.CROSS_FRAMEWORK`` (tests/reference_impls/test_jax_against_torch.py).

``forward_loss`` takes ``value_and_grad`` of one step (the new context as aux) and keeps
the gradients; ``backward`` has nothing left to do. ``cut`` is ``stop_gradient``: between
the schedule's steps the context is a concrete array that enters the next step's function
as a constant, which is the article's per-step truncation already; inside a traced
multi-step function (``loss_and_grads``, ``truncation_grads``) the same call cuts the graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from harness.backends import jax_backend as jb
from harness.interface import Batch, Params
from reference_impls.elman_sine import spec

Weights = dict[str, Any]  # {"w1": (1 + H, H), "w2": (H, 1)}, the article's two matrices


def _step(w: Weights, inp: Any, context: Any) -> tuple[Any, Any]:
    xh = jnp.concatenate((inp, context), axis=1)  # (1, 1 + H)
    context = jnp.tanh(xh @ w["w1"])  # (1, H)
    return context @ w["w2"], context  # (1, 1), (1, H)


def _step_loss(w: Weights, inp: Any, target: Any, context: Any) -> tuple[Any, Any]:
    pred, context = _step(w, inp, context)
    return jnp.sum((pred - target) ** 2) / 2, context


_step_value_and_grad = jax.jit(jax.value_and_grad(_step_loss, has_aux=True))
_predict = jax.jit(_step)


@jax.jit
def _sgd(w: Weights, grads: Weights, lr: float) -> Weights:
    # w1 then w2, each w -= lr * grad (nothing couples them, so the order changes no bit)
    return {k: w[k] - lr * grads[k] for k in w}


def _cut(state: Any) -> Any:
    return jax.lax.stop_gradient(state)


def _scored_loss(w: Weights, h0: Any, batches: tuple[tuple[Any, Any, bool], ...],
                 cut: bool) -> Any:
    """Summed step loss of the scored batches, from ``h0``, cutting after every step."""
    context, total = h0, jnp.zeros((), h0.dtype)
    for x, y, scored in batches:
        for j in range(x.shape[0]):
            loss, context = _step_loss(w, x[j:j + 1], y[j:j + 1], context)
            total = total + loss if scored else total
            context = _cut(context) if cut else context
    return total


class ElmanSineJax:
    port_id = "elman_sine/jax"
    framework = "jax"
    backend = jb

    def build(self, config: spec.Config, seed: int, device: str, data: Mapping[str, Any]
              ) -> None:
        self.config, self.device, self.dtype = config, jb.device(device), jnp.float32
        k1, k2 = jax.random.split(jb.key(seed))  # w1, then w2, as in the article
        w1 = jax.random.normal(k1, (config.input_size, config.hidden_size), self.dtype)
        w2 = jax.random.normal(k2, (config.hidden_size, config.output_size), self.dtype)
        self.params: Weights = {"w1": self._t(w1 * config.w1_std),
                                "w2": self._t(w2 * config.w2_std)}
        self._grads: Weights | None = None

    def _t(self, array: Any) -> Any:
        return jb.tensor(array, self.device, self.dtype)

    # -- the schedule's operations -----------------------------------------------------
    def zero_state(self, batch_size: int) -> Any:
        return self._t(np.zeros((batch_size, self.config.hidden_size)))

    def forward_loss(self, batch: Batch, state: Any) -> tuple[Any, Any]:
        (loss, context), self._grads = _step_value_and_grad(
            self.params, self._t(batch["x"]), self._t(batch["y"]), state)
        return loss, context

    def backward(self, loss: Any) -> None:
        if self._grads is None:
            raise RuntimeError("backward() before forward_loss(): no gradients were taken")

    def update(self) -> None:
        if self._grads is None:
            raise RuntimeError("update() before forward_loss(): no gradients were taken")
        self.params, self._grads = _sgd(self.params, self._grads, self.config.lr), None

    cut = staticmethod(_cut)

    @staticmethod
    def loss_value(loss: Any) -> float:
        return float(loss)

    def tensors(self) -> dict[str, jb.Slot]:
        return jb.slots(self.params)

    def grads(self) -> Weights:
        if self._grads is None:
            raise RuntimeError("grads() before forward_loss(): no gradients were taken")
        return dict(self._grads)

    # -- numpy entry points ------------------------------------------------------------
    def _context_from(self, batch: Batch) -> Any:
        return self._t(batch["h0"]) if "h0" in batch else self.zero_state(1)

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        x, context, preds = self._t(batch["x"]), self._context_from(batch), []
        for j in range(x.shape[0]):
            pred, context = _predict(self.params, x[j:j + 1], context)
            preds.append(pred)
        return {"y": np.asarray(jnp.concatenate(preds)), "h": np.asarray(context)}

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """Summed step loss over ``batch`` with the article's per-step context cut."""
        batches = ((self._t(batch["x"]), self._t(batch["y"]), True),)
        total, grads = jax.value_and_grad(_scored_loss)(self.params, self._context_from(batch),
                                                        batches, True)
        return float(total), {**spec.split_w1(np.asarray(grads["w1"])),
                              "W_hq": np.asarray(grads["w2"])}

    # -- optional hooks of the invariant checks ----------------------------------------
    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        jb.allow_float64()
        self.dtype = jnp.float64
        self.params = {k: self._t(v) for k, v in self.params.items()}

    def truncation_grads(self, first: Batch, second: Batch, cut: bool = True
                         ) -> dict[str, np.ndarray]:
        """d (summed loss on ``second``) / d (``first``'s h0), with the port's per-step cut
        (``cut``) or with none at all."""
        batches = tuple((self._t(b["x"]), self._t(b["y"]), scored)
                        for b, scored in ((first, False), (second, True)))
        grad = jax.grad(_scored_loss, argnums=1)(self.params, self._context_from(first),
                                                 batches, cut)
        return {"h0": np.asarray(grad)}
