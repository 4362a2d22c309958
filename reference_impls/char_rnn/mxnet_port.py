"""char_rnn in MXNet: d2l 0.17.6's chapter 8.5/8.6 MXNet code, op for op.

Adapters: the loop (``train_ch8`` / ``train_epoch_ch8`` / ``predict_ch8``) is
``spec.Schedule``. Each statement that touches a value is d2l's (``mxnet.np``/``npx`` under
numpy mode), so the per-epoch perplexity equals d2l's own functions bit for bit under the
same seeds (tests/reference_impls/char_rnn/test_fidelity_mxnet.py). Numpy mode is switched
on per method with ``mxnet.util.use_np`` instead of d2l's global ``npx.set_np()``, so other
MXNet ports in the same process keep the legacy NDArray semantics (``use_np`` rewraps every
function of a class as a method, hence no static methods here).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, init, npx
from mxnet import np as mnp
from mxnet.gluon import nn, rnn
from mxnet.util import use_np

from harness.backends import mxnet_backend as mb
from harness.interface import Batch, Params
from reference_impls.char_rnn import spec


@use_np
def _clip_arrays(grads: list[Any], theta: float) -> float:
    """d2l's ``grad_clipping`` body on the gradient arrays themselves (in place); returns
    the global norm before clipping."""
    # d2l: norm = math.sqrt(sum((p.grad ** 2).sum() for p in params))
    norm = math.sqrt(sum((g ** 2).sum() for g in grads))
    if norm > theta:
        for grad in grads:
            grad[:] *= theta / norm
    return norm


@use_np
class _ScratchModel:
    """d2l's ``RNNModelScratch`` with the section's ``get_params`` / ``rnn``."""

    def __init__(self, vocab_size: int, num_hiddens: int, std: float, ctx: Any):
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.dtype = "float32"  # d2l's; "float64" only for the invariant checks

        def normal(shape: tuple[int, ...]) -> Any:
            return mnp.random.normal(scale=std, size=shape, ctx=ctx)

        # drawn in d2l's order: W_xh, W_hh, W_hq; biases zero
        w_xh = normal((vocab_size, num_hiddens))
        w_hh = normal((num_hiddens, num_hiddens))
        b_h = mnp.zeros(num_hiddens, ctx=ctx)
        w_hq = normal((num_hiddens, vocab_size))
        b_q = mnp.zeros(vocab_size, ctx=ctx)
        self.params = [w_xh, w_hh, b_h, w_hq, b_q]
        for param in self.params:
            param.attach_grad()

    def __call__(self, X: Any, state: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        inputs = npx.one_hot(X.T, self.vocab_size, dtype=self.dtype)  # (T, B, V)
        W_xh, W_hh, b_h, W_hq, b_q = self.params
        H, = state  # (B, H)
        outputs = []
        for x in inputs:
            H = mnp.tanh(mnp.dot(x, W_xh) + mnp.dot(H, W_hh) + b_h)
            outputs.append(mnp.dot(H, W_hq) + b_q)  # (B, V)
        return mnp.concatenate(outputs, axis=0), (H,)  # (T*B, V)

    def begin_state(self, batch_size: int, ctx: Any) -> tuple[Any, ...]:
        return (mnp.zeros((batch_size, self.num_hiddens), ctx=ctx, dtype=self.dtype),)


@use_np
class _ConciseModel(nn.Block):
    """d2l's ``RNNModel``: a Gluon RNN layer and a dense output on one-hot inputs."""

    def __init__(self, rnn_layer: Any, vocab_size: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.rnn = rnn_layer
        self.vocab_size = vocab_size
        self.dense = nn.Dense(vocab_size)
        self.dtype = "float32"  # d2l's; "float64" only for the invariant checks

    def forward(self, inputs: Any, state: Any) -> tuple[Any, Any]:
        X = npx.one_hot(inputs.T, self.vocab_size, dtype=self.dtype)  # (T, B, V)
        Y, state = self.rnn(X, state)  # (T, B, H)
        return self.dense(Y.reshape(-1, Y.shape[-1])), state  # (T*B, V)

    def begin_state(self, *args: Any, **kwargs: Any) -> Any:
        return self.rnn.begin_state(*args, dtype=self.dtype, **kwargs)


@use_np
class _CharRnnMXNet:
    """What both variants share: d2l's loss, state handling, clipping and metric."""

    port_id = ""
    framework = "mxnet"
    backend = mb
    variant = ""
    model: Any  # _ScratchModel or _ConciseModel, made by _build_model

    def build(self, config: spec.Config, seed: int, device: str, data: Mapping[str, Any]
              ) -> None:
        self.config = config
        self.ctx = mb.context(device)
        mx.random.seed(seed)  # the initial weights
        self.loss = gluon.loss.SoftmaxCrossEntropyLoss()
        self._build_model(config.hiddens(self.variant), data)

    # -- per variant -------------------------------------------------------------------
    def _build_model(self, num_hiddens: int, data: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _params(self) -> list[Any]:
        """The arrays d2l's ``grad_clipping`` walks, in its order."""
        raise NotImplementedError

    def _state_of(self, h0: Any) -> Any:
        raise NotImplementedError

    def _h_of(self, state: Any) -> np.ndarray:
        raise NotImplementedError

    def tensors(self) -> dict[str, Any]:
        raise NotImplementedError

    # -- the schedule's operations -----------------------------------------------------
    def _tensor(self, a: Any) -> Any:
        # d2l.tensor(list of ids) is a float32 mxnet.np array
        return mnp.array(np.asarray(a, dtype=np.float32), ctx=self.ctx)

    def zero_state(self, batch_size: int) -> Any:
        return self.model.begin_state(batch_size=batch_size, ctx=self.ctx)

    def _mean_loss(self, X: Any, Y: Any, state: Any) -> tuple[Any, Any]:
        """Under ``autograd.record()``: d2l's forward and mean loss, time-major labels."""
        y = Y.T.reshape(-1)  # (T*B,)
        with autograd.record():
            y_hat, state = self.model(X, state)
            l = self.loss(y_hat, y).mean()  # noqa: E741 (d2l's name)
        return l, state

    def forward_loss(self, batch: Batch, state: Any) -> tuple[Any, Any]:
        return self._mean_loss(self._tensor(batch["X"]), self._tensor(batch["Y"]), state)

    def backward(self, loss: Any) -> None:
        loss.backward()  # grad_req "write": the next backward overwrites

    def cut(self, state: Any) -> Any:
        for s in state:
            s.detach()  # d2l's no-op; backward() already freed the old graph
        return state

    def clip(self, theta: float) -> float:
        return _clip_arrays([p.grad for p in self._params()], theta)

    def loss_value(self, loss: Any, scale: int = 1) -> float:
        # d2l's Accumulator: float(l * y.size), the product a float32 array
        return float(loss * scale)

    def predict_step(self, token: int, state: Any) -> tuple[np.ndarray, Any]:
        """One step of d2l's ``predict_ch8``: its ``get_input()`` through the model."""
        X = mnp.array([token], ctx=self.ctx).reshape((1, 1))
        y, state = self.model(X, state)
        return y.asnumpy(), state  # (1, V)

    # -- numpy entry points ------------------------------------------------------------
    def _state_from(self, batch: Batch, batch_size: int) -> Any:
        if "h0" not in batch:
            return self.zero_state(batch_size)
        return self._state_of(mnp.array(np.asarray(batch["h0"], dtype=self.model.dtype),
                                         ctx=self.ctx))

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        X = self._tensor(batch["X"])
        y_hat, state = self.model(X, self._state_from(batch, X.shape[0]))
        return {"logits": y_hat.asnumpy(), "h": self._h_of(state)}

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """d2l's mean cross-entropy on ``batch`` and its unclipped gradients."""
        X, Y = self._tensor(batch["X"]), self._tensor(batch["Y"])
        l, _ = self._mean_loss(X, Y, self._state_from(batch, X.shape[0]))  # noqa: E741
        l.backward()
        return float(l), spec.PARAMS[self.variant].read(self.framework, self.grads(), mb)

    def grads(self) -> dict[str, Any]:
        """Storage name -> the live gradient array (the training observables read it)."""
        return {path: (t.data() if isinstance(t, gluon.Parameter) else t).grad
                for path, t in self.tensors().items()}

    # -- optional hooks of the invariant checks (harness/invariants) --------------------
    def truncation_grads(self, first: Batch, second: Batch, cut: bool = True
                         ) -> dict[str, np.ndarray]:
        """d (loss on ``second``) / d (``first``'s h0), the state carried from ``first``.

        ``cut``: as the schedule does it, where ``first``'s backward (which frees its graph)
        and d2l's no-op ``s.detach()`` come between the two minibatches; without it both are
        recorded as one graph and only the second loss is differentiated.
        """
        h0 = mnp.array(np.asarray(first["h0"]), dtype=self.model.dtype, ctx=self.ctx)
        h0.attach_grad()
        with autograd.record():
            state = self._state_of(h0)  # recorded, so the gradient reaches h0
        l1, state = self._mean_loss(self._tensor(first["X"]), self._tensor(first["Y"]), state)
        if cut:
            l1.backward()
            state = self.cut(state)
            h0.grad[:] = 0
        l2, _ = self._mean_loss(self._tensor(second["X"]), self._tensor(second["Y"]), state)
        l2.backward()
        return {"h0": h0.grad.asnumpy()}

    def clip_grads(self, grads: Mapping[str, np.ndarray], theta: float) -> Params:
        """This port's ``grad_clipping`` (d2l's) applied to ``grads``."""
        arrays = [mnp.array(np.asarray(g), dtype=np.asarray(g).dtype, ctx=self.ctx)
                  for g in grads.values()]
        _clip_arrays(arrays, theta)
        return {n: a.asnumpy() for n, a in zip(grads, arrays, strict=True)}


@use_np
class CharRnnMXNetScratch(_CharRnnMXNet):
    """Section 8.5 (MXNet): hand-written RNN, ``d2l.sgd`` updates."""

    port_id = "char_rnn/mxnet-scratch"
    variant = "scratch"

    def _build_model(self, num_hiddens: int, data: Mapping[str, Any]) -> None:
        self.model = _ScratchModel(data["vocab_size"], num_hiddens, self.config.init_std,
                                   self.ctx)

    def _params(self) -> list[Any]:
        return list(self.model.params)

    def update(self) -> None:
        # d2l.sgd(net.params, lr, batch_size=1), "since the mean has been taken"
        lr, batch_size = self.config.lr, 1
        for param in self.model.params:
            param[:] = param - lr * param.grad / batch_size

    def tensors(self) -> dict[str, Any]:
        return dict(zip(spec.SCRATCH_PARAMS, self.model.params, strict=True))

    def _state_of(self, h0: Any) -> tuple[Any, ...]:
        return (h0,)

    def _h_of(self, state: Any) -> np.ndarray:
        return np.asarray(state[0].asnumpy())

    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        self.model.dtype = "float64"
        self.model.params = [p.astype("float64") for p in self.model.params]
        for param in self.model.params:
            param.attach_grad()


@use_np
class CharRnnMXNetConcise(_CharRnnMXNet):
    """Section 8.6 (MXNet): ``gluon.rnn.RNN`` + ``nn.Dense``, ``gluon.Trainer`` SGD."""

    port_id = "char_rnn/mxnet-concise"
    variant = "concise"

    def _build_model(self, num_hiddens: int, data: Mapping[str, Any]) -> None:
        # Section 8.6's cells in order: each draws from MXNet's generator, so the weights
        # train_ch8 finally draws depend on them (see spec "Draw order").
        cfg, vocab_size = self.config, data["vocab_size"]
        # d2l writes rnn.RNN(num_hiddens): Gluon's default activation is ReLU (spec quirk)
        rnn_layer = rnn.RNN(num_hiddens, activation=cfg.mxnet_concise_activation)
        rnn_layer.initialize()  # default Uniform(0.07): draws the known-shape h2h weight
        state = rnn_layer.begin_state(batch_size=cfg.batch_size)
        X = mnp.random.uniform(size=(cfg.num_steps, cfg.batch_size, vocab_size))
        rnn_layer(X, state)  # finishes the deferred i2h draw
        self.model = _ConciseModel(rnn_layer, vocab_size)
        self.model.initialize(force_reinit=True, ctx=self.ctx)  # redraws the rnn weights
        # d2l.predict_ch8('time traveller', 10, ...) on the untrained net: its first
        # forward finishes the dense layer's deferred draw
        spec.predict(self, data["vocab"], "time traveller", 10)
        # train_ch8: weights Normal(0.01) in collect_params order, biases 'zeros'
        self.model.initialize(ctx=self.ctx, force_reinit=True, init=init.Normal(cfg.init_std))
        self.trainer = gluon.Trainer(self.model.collect_params(), "sgd",
                                     {"learning_rate": self.config.lr})

    def _params(self) -> list[Any]:
        # grad_clipping's list: p.data() for every parameter, in collect_params order
        return [p.data() for p in self.model.collect_params().values()]

    def update(self) -> None:
        self.trainer.step(1)  # updater(batch_size=1)

    def tensors(self) -> dict[str, Any]:
        """Storage name (spec.CONCISE) -> Gluon Parameter (weights stored (out, in))."""
        layer, dense = self.model.rnn, self.model.dense
        return {**{f"rnn.{n}": getattr(layer, n) for n in (
                    "l0_i2h_weight", "l0_h2h_weight", "l0_i2h_bias", "l0_h2h_bias")},
                "dense.weight": dense.weight, "dense.bias": dense.bias}

    def _state_of(self, h0: Any) -> list[Any]:
        return [h0.reshape(1, *h0.shape)]  # Gluon's state: [(layers, B, H)]

    def _h_of(self, state: Any) -> np.ndarray:
        return np.asarray(state[0].asnumpy()[0])

    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        self.model.cast("float64")
        self.model.dtype = "float64"
