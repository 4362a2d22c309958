"""char_rnn in MXNet: d2l 0.17.6's chapter 8.5/8.6 MXNet code, op for op.

Each statement that touches a value is d2l's (``mxnet.np``/``npx`` under numpy mode), so
the per-epoch perplexity equals d2l's own functions bit for bit under the same seeds
(tests/fidelity/test_char_rnn_mxnet.py). Numpy mode is switched on per method with
``mxnet.util.use_np`` instead of d2l's global ``npx.set_np()``, so other MXNet ports in
the same process keep the legacy NDArray semantics.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, init, npx
from mxnet import np as mnp
from mxnet.gluon import nn, rnn
from mxnet.util import use_np

from harness.errors import UsageError
from harness.interface import Batch, EpochRecord, Params
from reference_impls._frameworks import mxnet_context
from reference_impls.char_rnn import spec


@use_np
def _clip_arrays(grads: list[Any], theta: float) -> None:
    """d2l's ``grad_clipping`` body on the gradient arrays themselves (in place)."""
    # d2l: norm = math.sqrt(sum((p.grad ** 2).sum() for p in params))
    norm = math.sqrt(sum((g ** 2).sum() for g in grads))
    if norm > theta:
        for grad in grads:
            grad[:] *= theta / norm


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
    """Shared loop (``train_epoch_ch8``, ``grad_clipping``, ``predict_ch8``) of both variants."""

    port_id = ""
    variant = ""
    model: Any  # _ScratchModel or _ConciseModel, made by _build_model

    def build(self, config: spec.Config, seed: int, device: str) -> None:
        self.config = config
        self.ctx = mxnet_context(device)
        self.corpus, self.vocab = spec.load_time_machine(config)
        self.rng = random.Random(seed)  # d2l's random.seed(seed): the epoch offsets
        mx.random.seed(seed)  # the initial weights
        self.loss = gluon.loss.SoftmaxCrossEntropyLoss()
        self._build_model(config.hiddens(self.variant))
        self.logged: dict[str, dict[str, str]] = {}

    def _build_model(self, num_hiddens: int) -> None:
        raise NotImplementedError

    def _params(self) -> list[Any]:
        raise NotImplementedError

    def _update(self) -> None:
        raise NotImplementedError

    def train(self) -> Iterator[EpochRecord]:
        for epoch in range(self.config.epochs):
            batches = spec.epoch_batches(self.corpus, self.config, self.rng)
            loss_sum, tokens = self._train_epoch(batches)
            if spec.is_logged_epoch(self.config, epoch):
                self.logged[str(epoch + 1)] = self._predictions()
            yield EpochRecord(metrics={"perplexity": math.exp(loss_sum / tokens)},
                              items=int(tokens))

    def _tensor(self, a: np.ndarray) -> Any:
        # d2l.tensor(list of ids) is a float32 mxnet.np array
        return mnp.array(np.asarray(a, dtype=np.float32), ctx=self.ctx)

    def _train_epoch(self, batches: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
        """d2l's ``train_epoch_ch8`` (sequential iterator); returns (sum l*n, sum n)."""
        state, metric = None, [0.0, 0.0]
        for X_np, Y_np in batches:
            X, Y = self._tensor(X_np), self._tensor(Y_np)  # (B, T)
            if state is None:
                state = self.model.begin_state(batch_size=X.shape[0], ctx=self.ctx)
            else:
                for s in state:
                    s.detach()  # d2l's no-op; backward() already freed the old graph
            y = Y.T.reshape(-1)  # (T*B,) time-major
            with autograd.record():
                y_hat, state = self.model(X, state)
                l = self.loss(y_hat, y).mean()  # noqa: E741 (d2l's name)
            l.backward()
            self._clip(self.config.clip_theta)
            self._update()
            metric = [a + float(b) for a, b in zip(metric, (l * y.size, y.size), strict=True)]
        return metric[0], metric[1]

    def _clip(self, theta: float) -> None:
        """d2l's ``grad_clipping``: global L2 norm over every parameter's gradient."""
        _clip_arrays([p.grad for p in self._params()], theta)

    def _predict(self, prefix: str, num_preds: int | None = None) -> str:
        """d2l's ``predict_ch8``: warm up on ``prefix``, then greedy ``num_preds`` steps."""
        state = self.model.begin_state(batch_size=1, ctx=self.ctx)
        outputs = [self.vocab[prefix[0]]]

        def get_input() -> Any:
            return mnp.array([outputs[-1]], ctx=self.ctx).reshape((1, 1))

        for ch in prefix[1:]:
            _, state = self.model(get_input(), state)
            outputs.append(self.vocab[ch])
        for _ in range(self.config.num_preds if num_preds is None else num_preds):
            y, state = self.model(get_input(), state)
            outputs.append(int(y.argmax(axis=1).reshape(1)))
        return self.vocab.to_tokens(outputs)

    def _predictions(self) -> dict[str, str]:
        return {prefix: self._predict(prefix) for prefix in self.config.prefixes}

    def outputs(self) -> dict[str, Any]:
        """The two continuations d2l prints after training, and those at logged epochs."""
        return {"predictions": self._predictions(), "logged": dict(self.logged)}

    def _state_from(self, batch: Batch, batch_size: int) -> Any:
        if "h0" not in batch:
            return self.model.begin_state(batch_size=batch_size, ctx=self.ctx)
        h0 = mnp.array(np.asarray(batch["h0"], dtype=self.model.dtype), ctx=self.ctx)
        return self._state_of(h0)

    def _state_of(self, h0: Any) -> Any:
        return [h0.reshape(1, *h0.shape)] if self.variant == "concise" else (h0,)

    def _final_h(self, state: Any) -> np.ndarray:
        h = state[0].asnumpy()
        return h[0] if self.variant == "concise" else h  # Gluon's state is (layers, B, H)

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        X = self._tensor(batch["X"])
        y_hat, state = self.model(X, self._state_from(batch, X.shape[0]))
        return {"logits": y_hat.asnumpy(), "h": self._final_h(state)}

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """d2l's mean cross-entropy on ``batch`` and its unclipped gradients."""
        X, Y = self._tensor(batch["X"]), self._tensor(batch["Y"])
        state = self._state_from(batch, X.shape[0])
        with autograd.record():
            y_hat, _ = self.model(X, state)
            l = self.loss(y_hat, Y.T.reshape(-1)).mean()  # noqa: E741
        l.backward()
        return float(l), self._named([p.grad for p in self._params()])

    def _named(self, arrays: list[Any]) -> Params:
        raise NotImplementedError

    # -- optional hooks of the invariant checks (harness/invariants_checks.py) ----------
    def truncation_grads(self, first: Batch, second: Batch, cut: bool = True
                         ) -> dict[str, np.ndarray]:
        """d (loss on ``second``) / d (``first``'s h0), the state carried from ``first``.

        ``cut``: as ``_train_epoch`` does it, where ``first``'s backward (which frees its
        graph) and d2l's no-op ``s.detach()`` come between the two minibatches; without it
        both are recorded as one graph and only the second loss is differentiated.
        """
        h0 = mnp.array(np.asarray(first["h0"]), dtype=self.model.dtype, ctx=self.ctx)
        h0.attach_grad()
        with autograd.record():
            y_hat, state = self.model(self._tensor(first["X"]), self._state_of(h0))
            l1 = self.loss(y_hat, self._tensor(first["Y"]).T.reshape(-1)).mean()
        if cut:
            l1.backward()
            for s in state:
                s.detach()  # d2l's statement (a no-op: the backward above cut the graph)
            h0.grad[:] = 0
        with autograd.record():
            y_hat, _ = self.model(self._tensor(second["X"]), state)
            l2 = self.loss(y_hat, self._tensor(second["Y"]).T.reshape(-1)).mean()
        l2.backward()
        return {"h0": h0.grad.asnumpy()}

    def clip_grads(self, grads: Mapping[str, np.ndarray], theta: float) -> Params:
        """This port's ``grad_clipping`` (d2l's) applied to ``grads``."""
        arrays = [mnp.array(np.asarray(g), dtype=np.asarray(g).dtype, ctx=self.ctx)
                  for g in grads.values()]
        _clip_arrays(arrays, theta)
        return {n: a.asnumpy() for n, a in zip(grads, arrays, strict=True)}

    def get_params(self) -> Params:
        return self._named(self._params())

    def _check_shapes(self, params: Mapping[str, np.ndarray]) -> None:
        expected = {k: v.shape for k, v in self.get_params().items()}
        bad = {k: f"obtained {np.shape(params[k]) if k in params else 'nothing'}, expected {s}"
               for k, s in expected.items() if k not in params or np.shape(params[k]) != s}
        if bad:
            raise UsageError(f"set_params got missing or misshapen parameters for {self.port_id}.",
                             context=bad, fix="pass canonical parameters (spec docstring) "
                             "from a model with the same vocabulary and hidden size.",
                             tutorial="char_rnn", port=self.port_id)


@use_np
class CharRnnMXNetScratch(_CharRnnMXNet):
    """Section 8.5 (MXNet): hand-written RNN, ``d2l.sgd`` updates."""

    port_id = "char_rnn/mxnet-scratch"
    variant = "scratch"

    def _build_model(self, num_hiddens: int) -> None:
        self.model = _ScratchModel(len(self.vocab), num_hiddens, self.config.init_std, self.ctx)

    def _params(self) -> list[Any]:
        return list(self.model.params)

    def _update(self) -> None:
        # d2l.sgd(net.params, lr, batch_size=1), "since the mean has been taken"
        lr, batch_size = self.config.lr, 1
        for param in self.model.params:
            param[:] = param - lr * param.grad / batch_size

    def _named(self, arrays: list[Any]) -> Params:
        return {name: a.asnumpy().copy()
                for name, a in zip(spec.SCRATCH_PARAMS, arrays, strict=True)}

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        self._check_shapes(params)
        for name, param in zip(spec.SCRATCH_PARAMS, self.model.params, strict=True):
            param[:] = mnp.array(np.asarray(params[name], dtype=self.model.dtype), ctx=self.ctx)

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

    def _build_model(self, num_hiddens: int) -> None:
        # Section 8.6's cells in order: each draws from MXNet's generator, so the weights
        # train_ch8 finally draws depend on them (see spec "Seeding").
        cfg, vocab_size = self.config, len(self.vocab)
        # d2l writes rnn.RNN(num_hiddens): Gluon's default activation is ReLU (spec quirk)
        rnn_layer = rnn.RNN(num_hiddens, activation=cfg.mxnet_concise_activation)
        rnn_layer.initialize()  # default Uniform(0.07): draws the known-shape h2h weight
        state = rnn_layer.begin_state(batch_size=cfg.batch_size)
        X = mnp.random.uniform(size=(cfg.num_steps, cfg.batch_size, vocab_size))
        rnn_layer(X, state)  # finishes the deferred i2h draw
        self.model = _ConciseModel(rnn_layer, vocab_size)
        self.model.initialize(force_reinit=True, ctx=self.ctx)  # redraws the rnn weights
        self._predict("time traveller", num_preds=10)  # finishes the dense layer's draw
        # train_ch8: weights Normal(0.01) in collect_params order, biases 'zeros'
        self.model.initialize(ctx=self.ctx, force_reinit=True, init=init.Normal(cfg.init_std))
        self.trainer = gluon.Trainer(self.model.collect_params(), "sgd",
                                     {"learning_rate": self.config.lr})

    def _params(self) -> list[Any]:
        # grad_clipping's list: p.data() for every parameter, in collect_params order
        return [p.data() for p in self.model.collect_params().values()]

    def _update(self) -> None:
        self.trainer.step(1)  # updater(batch_size=1)

    def _gluon(self) -> dict[str, Any]:
        """Canonical name -> Gluon Parameter (weights stored (out, in), i.e. transposed)."""
        layer, dense = self.model.rnn, self.model.dense
        return {"W_xh": layer.l0_i2h_weight, "W_hh": layer.l0_h2h_weight,
                "b_xh": layer.l0_i2h_bias, "b_hh": layer.l0_h2h_bias,
                "W_hq": dense.weight, "b_q": dense.bias}

    def _named(self, arrays: list[Any]) -> Params:
        order = list(self.model.collect_params().values())
        out = {}
        for name, param in self._gluon().items():
            a = arrays[order.index(param)].asnumpy()
            out[name] = a.T.copy() if name.startswith("W_") else a.copy()
        return out

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        self._check_shapes(params)
        for name, param in self._gluon().items():
            a = np.asarray(params[name], dtype=self.model.dtype)
            param.set_data(mnp.array(a.T if name.startswith("W_") else a, dtype=a.dtype,
                                     ctx=self.ctx))

    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        self.model.cast("float64")
        self.model.dtype = "float64"
