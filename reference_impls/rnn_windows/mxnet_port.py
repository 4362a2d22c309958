"""rnn_windows in MXNet: gluon.rnn.RNN (NTC) + Dense, the article's broadcast MSE, MXNet's Adam.

An adapter: the loop is ``spec.Schedule``. With its own seed it draws the torch initial
distributions from MXNet's generator (so its golden differs from the torch one); loaded with
the torch port's weights it follows the torch trajectory within ``spec.CROSS_FRAMEWORK``
(MXNet's Adam differs: see spec.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd

from harness.backends import mxnet_backend as mb
from harness.interface import Batch, Params
from reference_impls.rnn_windows import spec


class _Model(gluon.Block):
    """The article's model: RNN in NTC layout, then Dense on every time step."""

    def __init__(self, config: spec.Config):
        super().__init__()
        with self.name_scope():
            self.rnn = gluon.rnn.RNN(config.hidden_size, num_layers=1, activation="tanh",
                                     layout="NTC", input_size=config.input_size)
            self.fc = gluon.nn.Dense(config.output_size, flatten=False,
                                     in_units=config.hidden_size)

    def forward(self, x: Any, hidden: Any) -> tuple[Any, Any]:
        out, states = self.rnn(x, [hidden])  # (B, T, H), [(1, B, H)]
        return self.fc(out).reshape((-1, 1)), states[0]  # (B*T, 1) as torch's view


def mse_broadcast(output: Any, target: Any) -> Any:
    """torch's MSELoss(output (R, 1), target (K,)): the mean of (R, K) broadcast squares."""
    diff = nd.broadcast_sub(output, target.reshape((1, -1)))  # (R, K)
    return nd.mean(nd.square(diff))


class RnnWindowsMXNet:
    port_id = "rnn_windows/mxnet"
    framework = "mxnet"
    backend = mb
    #: the article scores every time step's output against the window's one target
    last_step_only = False
    #: float32 as in the article; ``to_float64`` (invariant checks only) switches it
    dtype: type[np.floating[Any]] = np.float32

    def build(self, config: spec.Config, seed: int, device: str, data: Mapping[str, Any]
              ) -> None:
        self.config = config
        self.ctx = mb.context(device)
        self.model = _Model(config)
        self.model.initialize(mx.init.Zero(), ctx=self.ctx)
        # torch's uniform bounds in torch's order (the table's), drawn on the CPU generator
        # on any device
        mx.random.seed(seed)
        bound = spec.init_bound(config)
        tensors = self.tensors()
        for storage in spec.PARAMS.storage(self.framework).values():
            param = tensors[storage.path]
            draw = nd.random.uniform(-bound, bound, shape=param.shape, ctx=mx.cpu())
            param.set_data(draw.as_in_context(self.ctx))
        self.trainer = gluon.Trainer(
            self.model.collect_params(), "adam",
            {"learning_rate": config.lr, "beta1": config.beta1, "beta2": config.beta2,
             "epsilon": config.eps})

    def _a(self, array: Any) -> Any:
        return nd.array(np.asarray(array), ctx=self.ctx, dtype=self.dtype)

    def _loss(self, output: Any, target: Any) -> Any:
        if self.last_step_only:
            output = output[-1:]  # (1, 1): the window's last step
        return mse_broadcast(output, target)

    # -- the schedule's operations -----------------------------------------------------
    def zero_state(self, batch_size: int) -> Any:
        """torch's ``hidden = None``, made explicit: (1, B, H) zeros."""
        return nd.zeros((1, batch_size, self.config.hidden_size), ctx=self.ctx,
                        dtype=self.dtype)

    def forward_loss(self, batch: Batch, state: Any) -> tuple[Any, Any]:
        x, y = self._a(batch["x"]), self._a(batch["y"]).reshape((-1,))
        with autograd.record():
            output, hidden = self.model(x, state)  # (B*T, 1), (1, B, H)
            loss = self._loss(output, y)  # y is (1,): broadcast (quirk 1)
        return loss, hidden

    @staticmethod
    def backward(loss: Any) -> None:
        loss.backward()  # grad_req "write": fresh grads each step (= zero_grad)

    def update(self) -> None:
        self.trainer.step(1)  # rescale_grad = 1: the loss is already a mean

    @staticmethod
    def cut(hidden: Any) -> Any:
        return hidden.detach()  # carried to the next window, graph cut

    @staticmethod
    def loss_value(loss: Any) -> float:
        return float(loss.asscalar())

    def tensors(self) -> dict[str, Any]:
        """The table's storage paths (``rnn.l0_i2h_weight``, ``fc.bias``...) -> Parameter."""
        out = {}
        for storage in spec.PARAMS.storage(self.framework).values():
            block, name = storage.path.split(".")
            out[storage.path] = getattr(getattr(self.model, block), name)
        return out

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

    # -- numpy entry points ------------------------------------------------------------
    def _hidden_from(self, batch: Batch, batch_size: int) -> Any:
        return self._a(batch["h0"]) if "h0" in batch else self.zero_state(batch_size)

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        x = self._a(batch["x"])
        out, hidden = self.model(x, self._hidden_from(batch, x.shape[0]))
        return {"y": out.asnumpy(), "h": hidden.asnumpy()}

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """The article's loss on one window (x (1, T, 1), y (1,)) and canonical grads
        (written to the grad buffers, which the next training backward overwrites)."""
        loss, _ = self.forward_loss(batch, self._hidden_from(batch, len(batch["x"])))
        loss.backward()
        return float(loss.asscalar()), spec.PARAMS.read(self.framework, self.grads(), mb)

    # -- optional hooks of the invariant checks (harness.invariants) ----------------------
    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        self.dtype = np.float64
        self.model.cast("float64")

    def truncation_grads(self, first: Batch, second: Batch, cut: bool = True
                         ) -> dict[str, np.ndarray]:
        """d (loss on ``second``) / d (``first``'s h0), the hidden state carried from
        ``first`` with the training loop's cut (``cut``) or without it."""
        h0 = self._a(first["h0"])
        h0.attach_grad()
        with autograd.record():
            _, hidden = self.model(self._a(first["x"]), h0)
        loss, _ = self.forward_loss(second, self.cut(hidden) if cut else hidden)
        loss.backward()
        return {"h0": h0.grad.asnumpy()}


class RnnWindowsMXNetLast(RnnWindowsMXNet):
    """The "last" variant: the loss scores only the window's last time step."""

    port_id = "rnn_windows/mxnet-last"
    last_step_only = True
