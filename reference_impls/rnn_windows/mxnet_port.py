"""rnn_windows in MXNet: gluon.rnn.RNN (NTC) + Dense, the article's broadcast MSE, MXNet's Adam.

With its own seed it draws the torch initial distributions from MXNet's generator (so its
golden differs from the torch one); loaded with the torch port's weights it follows the
torch trajectory within ``spec.CROSS_FRAMEWORK`` (MXNet's Adam differs: see spec.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd

from harness.interface import Batch, EpochRecord, Params
from reference_impls._frameworks import mxnet_context
from reference_impls.rnn_windows import spec

#: canonical name -> (block attribute, parameter attribute, stored transposed?), in torch's
#: draw order (RNN i2h weight, h2h weight, i2h bias, h2h bias, then the Dense layer)
_MX_NAMES = {
    "W_xh": ("rnn", "l0_i2h_weight", True),
    "W_hh": ("rnn", "l0_h2h_weight", True),
    "b_xh": ("rnn", "l0_i2h_bias", False),
    "b_hh": ("rnn", "l0_h2h_bias", False),
    "W_hq": ("fc", "weight", True),
    "b_q": ("fc", "bias", False),
}


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
    #: the article scores every time step's output against the window's one target
    last_step_only = False
    #: float32 as in the article; ``to_float64`` (invariant checks only) switches it
    dtype: type[np.floating[Any]] = np.float32

    @staticmethod
    def _cut(hidden: Any) -> Any:
        return hidden.detach()  # carried to the next window, graph cut

    def build(self, config: spec.Config, seed: int, device: str) -> None:
        self.config = config
        self.ctx = mxnet_context(device)
        data = spec.make_data(config)
        self.x = nd.array(data["x"], ctx=self.ctx)  # (N, T, 1) float32
        self.y = nd.array(data["y"], ctx=self.ctx)  # (N, 1) float32
        self.model = _Model(config)
        self.model.initialize(mx.init.Zero(), ctx=self.ctx)
        # torch's uniform bounds in torch's order, drawn on the CPU generator on any device
        mx.random.seed(seed)
        bound = spec.init_bound(config)
        for name in spec.PARAM_NAMES:
            param = self._param(name)
            draw = nd.random.uniform(-bound, bound, shape=param.shape, ctx=mx.cpu())
            param.set_data(draw.as_in_context(self.ctx))
        self.trainer = gluon.Trainer(
            self.model.collect_params(), "adam",
            {"learning_rate": config.lr, "beta1": config.beta1, "beta2": config.beta2,
             "epsilon": config.eps})

    def _param(self, name: str) -> Any:
        block, attr, _ = _MX_NAMES[name]
        return getattr(getattr(self.model, block), attr)

    def _zero_hidden(self, batch_size: int) -> Any:
        return nd.zeros((1, batch_size, self.config.hidden_size), ctx=self.ctx,
                        dtype=self.dtype)

    def _loss(self, output: Any, target: Any) -> Any:
        if self.last_step_only:
            output = output[-1:]  # (1, 1): the window's last step
        return mse_broadcast(output, target)

    def train(self) -> Iterator[EpochRecord]:
        n = self.x.shape[0]
        for _ in range(self.config.epochs):
            hidden = self._zero_hidden(1)  # torch's hidden = None
            total_loss = 0.0  # Python float sum of the float32 losses, as printed
            for i in range(n):
                with autograd.record():
                    output, hidden = self.model(self.x[i:i + 1], hidden)  # (T, 1), (1, 1, H)
                    loss = self._loss(output, self.y[i])  # y[i] is (1,): broadcast
                loss.backward()  # grad_req "write": fresh grads each step (= zero_grad)
                self.trainer.step(1)  # rescale_grad = 1: the loss is already a mean
                hidden = self._cut(hidden)  # carried to the next window, graph cut
                total_loss += float(loss.asscalar())
            yield EpochRecord(metrics={"loss": total_loss}, items=n)

    def outputs(self) -> dict[str, Any]:
        """Last-step prediction for every window, each from a zero hidden state."""
        predictions = []
        for i in range(self.x.shape[0]):
            out, _ = self.model(self.x[i:i + 1], self._zero_hidden(1))  # (T, 1)
            predictions.append(float(out[-1].asscalar()))
        return {"predictions": predictions}

    def _as_nd(self, array: Any) -> Any:
        return nd.array(np.asarray(array), ctx=self.ctx, dtype=self.dtype)

    def _hidden_from(self, batch: Batch, batch_size: int) -> Any:
        return self._as_nd(batch["h0"]) if "h0" in batch else self._zero_hidden(batch_size)

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        x = self._as_nd(batch["x"])
        out, hidden = self.model(x, self._hidden_from(batch, x.shape[0]))
        return {"y": out.asnumpy(), "h": hidden.asnumpy()}

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """The article's loss on one window (x (1, T, 1), y (1,)) and canonical grads."""
        x = self._as_nd(batch["x"])
        hidden = self._hidden_from(batch, x.shape[0])
        with autograd.record():
            output, _ = self.model(x, hidden)
            loss = self._loss(output, self._as_nd(batch["y"]).reshape((-1,)))
        loss.backward()
        grads = {name: _to_numpy(self._param(name).grad(self.ctx), _MX_NAMES[name][2])
                 for name in spec.PARAM_NAMES}
        return float(loss.asscalar()), grads

    def get_params(self) -> Params:
        return {name: _to_numpy(self._param(name).data(self.ctx), _MX_NAMES[name][2])
                for name in spec.PARAM_NAMES}

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        params = spec.canonical_params(params)
        for name in spec.PARAM_NAMES:
            value = params[name].T if _MX_NAMES[name][2] else params[name]
            param = self._param(name)
            param.set_data(nd.array(np.ascontiguousarray(value), ctx=self.ctx,
                                    dtype=self.dtype).reshape(param.shape))

    # -- optional hooks of the invariant checks (harness/invariants_checks.py) ----------
    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        self.dtype = np.float64
        self.model.cast("float64")

    def truncation_grads(self, first: Batch, second: Batch, cut: bool = True
                         ) -> dict[str, np.ndarray]:
        """d (loss on ``second``) / d (``first``'s h0), the hidden state carried from
        ``first`` with the training loop's cut (``_cut``) or without it."""
        h0 = self._as_nd(first["h0"])
        h0.attach_grad()
        with autograd.record():
            _, hidden = self.model(self._as_nd(first["x"]), h0)
        hidden = self._cut(hidden) if cut else hidden
        with autograd.record():
            output, _ = self.model(self._as_nd(second["x"]), hidden)
            loss = self._loss(output, self._as_nd(second["y"]).reshape((-1,)))
        loss.backward()
        return {"h0": h0.grad.asnumpy()}


class RnnWindowsMXNetLast(RnnWindowsMXNet):
    """The "last" variant: the loss scores only the window's last time step."""

    port_id = "rnn_windows/mxnet-last"
    last_step_only = True


def _to_numpy(array: Any, transposed: bool) -> np.ndarray:
    value = array.asnumpy()
    return np.ascontiguousarray(value.T if transposed else value).copy()
