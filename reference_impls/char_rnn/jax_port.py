"""char_rnn in JAX: d2l 0.17.6's chapter-8 scratch RNN and its concise model, as pure
functions of a parameter dict.

Adapters: the loop (``train_ch8`` / ``train_epoch_ch8`` / ``predict_ch8``) is
``spec.Schedule``. There is no JAX tab in d2l 0.17.6, so these follow its PyTorch tab:
scratch draws W_xh, W_hh, W_hq from normal(0, 0.01) with ``jax.random`` (biases zero);
concise is a tanh RNN layer (``jb.rnn_tanh``, torch's ``nn.RNN``) + a dense output, all six
drawn from torch's default U(-1/sqrt(H), 1/sqrt(H)). Their goldens are their own; loaded
with the torch ports' weights they follow the torch trajectories within
``spec.CROSS_FRAMEWORK``.

``forward_loss`` takes ``value_and_grad`` (new state as aux) and keeps the gradients;
``backward`` has nothing left to do; ``clip`` rescales the kept gradients (d2l's
``grad_clipping``: global norm, summed in d2l's parameter order) and ``update`` is d2l's SGD.
``cut`` is ``stop_gradient``: between minibatches the state is a concrete array, a
constant of the next step's function (d2l's ``detach``); in ``truncation_grads``' traced
two-batch function the same call cuts the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from harness.backends import jax_backend as jb
from harness.interface import Batch, Params
from reference_impls.char_rnn import spec

Weights = dict[str, Any]  # canonical names (spec.SCRATCH / spec.CONCISE)
Net = Callable[[Weights, Any, Any], tuple[Any, Any]]


def _scratch_net(w: Weights, X: Any, h: Any) -> tuple[Any, Any]:
    """d2l's ``rnn``: ids X (B, T), state (B, H) -> logits (T*B, V), state (B, H)."""
    inputs = jax.nn.one_hot(X.T, w["W_xh"].shape[0], dtype=w["W_xh"].dtype)  # (T, B, V)

    def step(h: Any, x: Any) -> tuple[Any, Any]:
        h = jnp.tanh(x @ w["W_xh"] + h @ w["W_hh"] + w["b_h"])  # (B, H)
        return h, h @ w["W_hq"] + w["b_q"]  # (B, V)

    h, outputs = jax.lax.scan(step, h, inputs)  # outputs (T, B, V)
    return outputs.reshape(-1, outputs.shape[-1]), h


def _concise_net(w: Weights, X: Any, h: Any) -> tuple[Any, Any]:
    """d2l's ``RNNModel`` around a tanh RNN layer (torch's ``nn.RNN``), same shapes."""
    inputs = jax.nn.one_hot(X.T, w["W_xh"].shape[0], dtype=w["W_xh"].dtype)  # (T, B, V)
    Y, h = jb.rnn_tanh(inputs, h, w["W_xh"], w["W_hh"], w["b_xh"], w["b_hh"])  # (T, B, H)
    return Y.reshape(-1, Y.shape[-1]) @ w["W_hq"] + w["b_q"], h  # (T*B, V)


def _mean_loss(logits: Any, Y: Any) -> Any:
    """Mean softmax cross-entropy against time-major labels (d2l's ``Y.T.reshape(-1)``)."""
    log_p = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_p, Y.T.reshape(-1, 1), axis=-1))


def _cut(state: Any) -> Any:
    return jax.lax.stop_gradient(state)


def _loss(w: Weights, X: Any, Y: Any, h: Any, net: Net) -> tuple[Any, Any]:
    logits, h = net(w, X, h)
    return _mean_loss(logits, Y), h


def _two_batches(h0: Any, w: Weights, first: Any, second: tuple[Any, Any], cut: bool,
                 net: Net) -> Any:
    _, h = net(w, first, h0)
    return _loss(w, second[0], second[1], _cut(h) if cut else h, net)[0]


@partial(jax.jit, static_argnames="order")
def _clip(grads: Weights, theta: float, order: tuple[str, ...]) -> tuple[Weights, Any]:
    """d2l's ``grad_clipping``: the global norm, summed in d2l's parameter ``order`` (jit
    returns dicts with sorted keys), and every gradient scaled by theta / norm when
    norm > theta."""
    norm = jnp.sqrt(sum(jnp.sum(grads[k] ** 2) for k in order))
    clipped = {k: jnp.where(norm > theta, g * (theta / norm), g) for k, g in grads.items()}
    return clipped, norm


@jax.jit
def _sgd(w: Weights, grads: Weights, lr: float) -> Weights:
    return {k: w[k] - lr * grads[k] for k in w}  # d2l.sgd(batch_size=1) / optim.SGD


_STATIC = ("net",)
_value_and_grad = jax.jit(jax.value_and_grad(_loss, has_aux=True), static_argnames=_STATIC)
_apply = jax.jit(lambda w, X, h, net: net(w, X, h), static_argnames=_STATIC)


class _CharRnnJax:
    """What both variants share: d2l's loss, clipping, SGD, metric and prediction."""

    port_id = "char_rnn/jax"
    framework = "jax"
    backend = jb
    variant = ""
    net: Net = staticmethod(_scratch_net)

    def build(self, config: spec.Config, seed: int, device: str, data: Mapping[str, Any]
              ) -> None:
        self.config, self.device, self.dtype = config, jb.device(device), jnp.float32
        self.vocab_size = data["vocab_size"]
        self.num_hiddens = config.hiddens(self.variant)
        self.params: Weights = {k: self._t(v) for k, v in self._initial(jb.key(seed)).items()}
        self._grads: Weights | None = None

    def _initial(self, key: Any) -> Weights:
        raise NotImplementedError

    def _t(self, array: Any) -> Any:
        return jb.tensor(array, self.device, self.dtype)

    def _ids(self, batch: Batch, key: str) -> Any:
        return jb.tensor(batch[key], self.device, jnp.int32)

    # -- the schedule's operations -----------------------------------------------------
    def zero_state(self, batch_size: int) -> Any:
        return self._t(np.zeros((batch_size, self.num_hiddens)))  # (B, H)

    def forward_loss(self, batch: Batch, state: Any) -> tuple[Any, Any]:
        (loss, state), self._grads = _value_and_grad(
            self.params, self._ids(batch, "X"), self._ids(batch, "Y"), state, net=self.net)
        return loss, state

    def backward(self, loss: Any) -> None:
        self.grads()  # taken by forward_loss

    def clip(self, theta: float) -> float:
        self._grads, norm = _clip(self.grads(), theta, spec.PARAMS[self.variant].names)
        return float(norm)

    def update(self) -> None:
        self.params, self._grads = _sgd(self.params, self.grads(), self.config.lr), None

    cut = staticmethod(_cut)

    @staticmethod
    def loss_value(loss: Any, scale: int = 1) -> float:
        value = np.asarray(loss)
        return float(value * value.dtype.type(scale))  # the product in the loss's dtype

    def predict_step(self, token: int, state: Any) -> tuple[np.ndarray, Any]:
        """One step of d2l's ``predict_ch8``: its ``get_input()`` through the model."""
        X = jb.tensor([[token]], self.device, jnp.int32)  # (1, 1)
        logits, state = _apply(self.params, X, state, net=self.net)
        return np.asarray(logits), state  # (1, V)

    def tensors(self) -> dict[str, jb.Slot]:
        return jb.slots(self.params)

    def grads(self) -> Weights:
        if self._grads is None:
            raise RuntimeError("no gradients: call forward_loss() first")
        return dict(self._grads)

    # -- numpy entry points ------------------------------------------------------------
    def _state(self, batch: Batch) -> Any:
        return self._t(batch["h0"]) if "h0" in batch else self.zero_state(len(batch["X"]))

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        logits, h = _apply(self.params, self._ids(batch, "X"), self._state(batch), net=self.net)
        return {"logits": np.asarray(logits), "h": np.asarray(h)}

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """d2l's mean cross-entropy on ``batch`` and its unclipped gradients."""
        (loss, _), grads = _value_and_grad(self.params, self._ids(batch, "X"),
                                           self._ids(batch, "Y"), self._state(batch),
                                           net=self.net)
        return float(loss), {k: np.asarray(g) for k, g in grads.items()}

    # -- optional hooks of the invariant checks ----------------------------------------
    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        jb.allow_float64()
        self.dtype = jnp.float64
        self.params = {k: self._t(v) for k, v in self.params.items()}

    def truncation_grads(self, first: Batch, second: Batch, cut: bool = True
                         ) -> dict[str, np.ndarray]:
        """d (loss on ``second``) / d (``first``'s h0), the state carried from ``first`` with
        the training loop's cut or without it."""
        second_xy = (self._ids(second, "X"), self._ids(second, "Y"))
        grad = jax.grad(_two_batches)(self._t(first["h0"]), self.params,
                                      self._ids(first, "X"), second_xy, cut, self.net)
        return {"h0": np.asarray(grad)}

    @staticmethod
    def clip_grads(grads: Mapping[str, np.ndarray], theta: float) -> Params:
        """This port's ``grad_clipping`` (d2l's) applied to ``grads``."""
        clipped, _ = _clip({k: jnp.asarray(g) for k, g in grads.items()}, theta, tuple(grads))
        return {k: np.asarray(g) for k, g in clipped.items()}


class CharRnnJaxScratch(_CharRnnJax):
    """d2l 8.5: the book's ``get_params`` / ``init_rnn_state`` / ``rnn``."""

    port_id = "char_rnn/jax-scratch"
    variant = "scratch"
    net = staticmethod(_scratch_net)

    def _initial(self, key: Any) -> Weights:
        v, h, std = self.vocab_size, self.num_hiddens, self.config.init_std
        k_xh, k_hh, k_hq = jax.random.split(key, 3)  # W_xh, W_hh, W_hq: d2l's draw order
        return {"W_xh": jax.random.normal(k_xh, (v, h), self.dtype) * std,
                "W_hh": jax.random.normal(k_hh, (h, h), self.dtype) * std,
                "b_h": np.zeros(h), "W_hq": jax.random.normal(k_hq, (h, v), self.dtype) * std,
                "b_q": np.zeros(v)}


class CharRnnJaxConcise(_CharRnnJax):
    """d2l 8.6 (PyTorch tab): a tanh RNN layer + dense output, PyTorch's default init."""

    port_id = "char_rnn/jax-concise"
    variant = "concise"
    net = staticmethod(_concise_net)

    def _initial(self, key: Any) -> Weights:
        v, h = self.vocab_size, self.num_hiddens
        shapes = {"W_xh": (v, h), "W_hh": (h, h), "b_xh": (h,), "b_hh": (h,),
                  "W_hq": (h, v), "b_q": (v,)}  # torch's order: RNN layer, then Linear
        bound = 1.0 / np.sqrt(h)  # nn.RNN's rule, and nn.Linear's with fan_in = H
        keys = jax.random.split(key, len(shapes))
        return {name: jax.random.uniform(k, shape, self.dtype, -bound, bound)
                for k, (name, shape) in zip(keys, shapes.items(), strict=True)}
