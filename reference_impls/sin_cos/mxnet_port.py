"""sin_cos in MXNet gluon: ``gluon.rnn.RNN`` (NTC) + per-step ``Dense`` with gluon's Adam.

With its own seed it draws every parameter from MXNet's generator (same law and order as
torch, other numbers), so its golden differs from the torch one; loaded with the torch
port's weights it follows the torch trajectory within ``spec.CROSS_FRAMEWORK``. Gluon's
Adam places eps differently from torch's (see spec.py). An adapter: the loop is
``spec.Schedule``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd

from harness.backends import mxnet_backend as mb
from harness.interface import Batch, Params
from reference_impls.sin_cos import spec


class _Regressor(gluon.Block):
    """The article's model in gluon; every parameter is U(-1/sqrt(H), 1/sqrt(H)) as in torch."""

    def __init__(self, config: spec.Config, **kwargs: Any):
        super().__init__(**kwargs)
        init = mx.init.Uniform(1.0 / math.sqrt(config.hidden_size))
        with self.name_scope():
            # gluon's default bias initialiser is zeros; torch draws biases too
            self.rnn = gluon.rnn.RNN(
                config.hidden_size, num_layers=config.num_layers, activation="tanh",
                layout="NTC", input_size=config.input_size,
                i2h_weight_initializer=init, h2h_weight_initializer=init,
                i2h_bias_initializer=init, h2h_bias_initializer=init)
            self.out = gluon.nn.Dense(1, in_units=config.hidden_size,
                                      weight_initializer=init, bias_initializer=init)

    def forward(self, x: Any, h_state: Any) -> tuple[Any, Any]:
        r_out, states = self.rnn(x, [h_state])  # (B, T, H), [(1, B, H)]
        # the article's per-time-step read-out loop, kept
        outs = [self.out(nd.slice_axis(r_out, axis=1, begin=t, end=t + 1).reshape((0, -1)))
                for t in range(r_out.shape[1])]  # T x (B, 1)
        return nd.stack(*outs, axis=1), states[0]  # (B, T, 1), (1, B, H)


class SinCosMXNet:
    port_id = "sin_cos/mxnet"
    framework = "mxnet"
    backend = mb
    #: float32 as in the article; ``to_float64`` (invariant checks only) switches it
    dtype: type[np.floating[Any]] = np.float32

    def build(self, config: spec.Config, seed: int, device: str, data: Mapping[str, Any]
              ) -> None:
        self.config = config
        self.ctx = mb.context(device)
        self.model = _Regressor(config)
        # Drawn on the CPU generator in torch's parameter order, then moved to the device.
        mx.random.seed(seed)
        self.model.initialize(ctx=mx.cpu())
        self.model.collect_params().reset_ctx(self.ctx)
        self.trainer = gluon.Trainer(self.model.collect_params(), "adam", {
            "learning_rate": config.lr, "beta1": config.beta1, "beta2": config.beta2,
            "epsilon": config.eps})
        self.prediction: Any = None

    def _a(self, array: Any) -> Any:
        return nd.array(np.asarray(array), ctx=self.ctx, dtype=self.dtype)

    # -- the schedule's operations -----------------------------------------------------
    def zero_state(self, batch_size: int) -> Any:
        """The article's ``h_state = None``, made explicit: (layers, B, H) zeros."""
        return nd.zeros((self.config.num_layers, batch_size, self.config.hidden_size),
                        ctx=self.ctx, dtype=self.dtype)

    def forward_loss(self, batch: Batch, state: Any) -> tuple[Any, Any]:
        x, y = self._a(batch["x"]), self._a(batch["y"])  # (1, T, 1)
        with autograd.record():
            self.prediction, h_state = self.model(x, state)
            loss = ((self.prediction - y) ** 2).mean()  # MSELoss: mean over all elements
        return loss, h_state

    @staticmethod
    def backward(loss: Any) -> None:
        loss.backward()  # grad_req "write": overwrites, as zero_grad + backward

    def update(self) -> None:
        self.trainer.step(1)  # the loss is already a mean: no further rescaling

    @staticmethod
    def cut(h_state: Any) -> Any:
        return h_state.detach()  # carried to the next step, graph cut

    @staticmethod
    def loss_value(loss: Any) -> float:
        return float(loss.asscalar())

    def last_prediction(self) -> np.ndarray:
        if self.prediction is None:
            raise ValueError("last_prediction() before forward_loss")
        return mb.to_numpy(self.prediction)

    def tensors(self) -> dict[str, Any]:
        """Parameters keyed by block attribute and gluon name (``rnn.l0_i2h_weight``...)."""
        rnn, out = self.model.rnn, self.model.out
        return {
            **{f"rnn.{k[len(rnn.prefix):]}": v for k, v in rnn.collect_params().items()},
            **{f"out.{k[len(out.prefix):]}": v for k, v in out.collect_params().items()},
        }

    def grads(self) -> dict[str, Any]:
        return {path: p.grad(self.ctx) for path, p in self.tensors().items()}

    # -- checkpoint members (SpecPort.checkpoint / restore) ------------------------------
    def optimizer_state(self) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        """gluon Adam's (mean, var) by storage path, and its step count (every parameter's)."""
        return mb.adam_state(self.trainer, self.tensors(), self.port_id)

    def load_optimizer_state(self, slots: Mapping[str, Mapping[str, np.ndarray]],
                             scalars: Mapping[str, Any]) -> None:
        mb.load_adam_state(self.trainer, self.tensors(), slots, int(scalars["step"]),
                          self.port_id)

    def state_from_numpy(self, parts: list[np.ndarray]) -> list[Any]:
        """The carried h_state (1, 1, H) as ``cut`` leaves it (detached, own memory)."""
        return [self._a(part) for part in parts]

    # -- numpy entry points ------------------------------------------------------------
    def _inputs(self, batch: Batch) -> tuple[Any, Any]:
        x = self._a(batch["x"])
        h0 = batch.get("h0")
        return x, self.zero_state(x.shape[0]) if h0 is None else self._a(h0)

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        x, h0 = self._inputs(batch)
        y, h = self.model(x, h0)
        return {"y": y.asnumpy(), "h": h.asnumpy()}

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """The article's MSE loss on ``batch`` and its gradients (written to the grad buffers,
        which the next training backward overwrites anyway)."""
        x, h0 = self._inputs(batch)
        y = self._a(batch["y"])
        with autograd.record():
            prediction, _ = self.model(x, h0)
            loss = ((prediction - y) ** 2).mean()
        loss.backward()
        return float(loss.asscalar()), spec.PARAMS.read(self.framework, self.grads(), mb)

    # -- optional hooks of the invariant checks (harness.invariants) ----------------------
    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        self.dtype = np.float64
        self.model.cast("float64")

    def truncation_grads(self, first: Batch, second: Batch, cut: bool = True
                         ) -> dict[str, np.ndarray]:
        """d (loss on ``second``) / d (``first``'s h0), the state carried from ``first``
        with the training loop's cut (``cut``, between two recordings) or without it."""
        x1, h0 = self._inputs(first)
        h0.attach_grad()
        with autograd.record():
            _, h_state = self.model(x1, h0)
        h_state = self.cut(h_state) if cut else h_state
        x2, _ = self._inputs(second)
        with autograd.record():
            prediction, _ = self.model(x2, h_state)
            loss = ((prediction - self._a(second["y"])) ** 2).mean()
        loss.backward()
        return {"h0": h0.grad.asnumpy()}
