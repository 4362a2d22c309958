"""char_rnn in PyTorch: d2l 0.17.6's chapter-8 scratch RNN and its ``nn.RNN`` model, op for op.

Both ports repeat d2l's own torch code (``RNNModelScratch`` with the book's ``get_params``,
``init_rnn_state`` and ``rnn``; ``RNNModel``; ``grad_clipping``; ``train_epoch_ch8``;
``predict_ch8``; ``sgd``) with the same operations in the same order, so the per-epoch
perplexity equals d2l's bit for bit (tests/fidelity/test_char_rnn_torch.py).

Departures that change no value: prediction runs under ``torch.no_grad()``; the epoch's loss
sum detaches ``l * y.numel()`` before ``float()`` (d2l converts it while it requires grad,
which warns). One departure on CUDA only: the scratch weights are drawn on the CPU generator
and then moved (d2l draws them on the device), so every device starts from the same weights;
the concise model is built on the CPU and moved, as in d2l.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from harness.errors import UsageError
from harness.interface import Batch, EpochRecord, Params
from reference_impls._frameworks import filled_grad, torch_device
from reference_impls.char_rnn import spec

State = tuple[torch.Tensor, ...]


def grad_clipping(params: list[torch.Tensor], theta: float) -> None:
    """d2l's ``grad_clipping``: rescale all gradients to global L2 norm ``theta``."""
    # d2l: torch.sqrt(sum(torch.sum((p.grad ** 2)) for p in params)), i.e. Python's sum
    # from int 0 in parameter order; the order fixes the rounding
    total: Any = 0
    for p in params:
        total = total + torch.sum(_grad(p) ** 2)
    norm = torch.sqrt(total)
    if norm > theta:
        for param in params:
            _grad(param)[:] *= theta / norm


def _check_shapes(port_id: str, params: Mapping[str, np.ndarray],
                  expected: Mapping[str, tuple[int, ...]]) -> None:
    bad = {k: (tuple(np.shape(params[k])), shape) for k, shape in expected.items()
           if tuple(np.shape(params[k])) != shape}
    if bad:
        raise UsageError(
            f"set_params got parameters of the wrong shape for {port_id}.",
            context={k: f"obtained {got}, expected {want}" for k, (got, want) in bad.items()},
            fix="pass parameters from a model with the same vocabulary and hidden size.",
            tutorial="char_rnn", port=port_id,
        )


class _CharRnnTorch:
    """What both variants share: data, d2l's ``train_epoch_ch8`` loop and ``predict_ch8``."""

    port_id = "char_rnn/torch"
    variant = ""
    #: float32 as in d2l; ``to_float64`` (invariant checks only) switches it
    dtype = torch.float32

    @property
    def np_dtype(self) -> type[np.floating[Any]]:
        return np.float64 if self.dtype == torch.float64 else np.float32

    def build(self, config: spec.Config, seed: int, device: str) -> None:
        self.config = config
        self.device = torch_device(device)
        self.corpus, self.vocab = spec.load_time_machine(config)
        self.rng = random.Random(seed)  # d2l's random.seed(S): draws the epoch offsets
        self.num_hiddens = config.hiddens(self.variant)
        self.loss = nn.CrossEntropyLoss()
        self.logged: dict[str, dict[str, str]] = {}
        torch.manual_seed(seed)  # draws the initial weights, on the CPU generator
        self._build_model(len(self.vocab))

    # -- per-variant model -------------------------------------------------------------
    def _build_model(self, vocab_size: int) -> None:
        raise NotImplementedError

    def _net(self, X: torch.Tensor, state: Any, params: Any = None) -> tuple[torch.Tensor, Any]:
        """The model on token ids X (B, T): logits (T*B, V) and the new state.

        ``params`` (scratch only) replaces the model's own tensors, for ``loss_and_grads``.
        """
        raise NotImplementedError

    def _begin_state(self, batch_size: int) -> Any:
        raise NotImplementedError

    def _detach_state(self, state: Any) -> None:
        raise NotImplementedError

    def _update(self, loss: torch.Tensor) -> None:
        """Backward, clip to ``clip_theta`` and one SGD step, in d2l's order."""
        raise NotImplementedError

    def _state_from_h(self, h: torch.Tensor) -> Any:
        raise NotImplementedError

    def _h_of(self, state: Any) -> torch.Tensor:
        raise NotImplementedError

    # -- training ----------------------------------------------------------------------
    def train(self) -> Iterator[EpochRecord]:
        for epoch in range(self.config.epochs):
            ppl, tokens = self._train_epoch()
            if spec.is_logged_epoch(self.config, epoch):
                # d2l prints predict('time traveller') here; greedy, so nothing changes
                self.logged[str(epoch + 1)] = self._predict_all()
            yield EpochRecord(metrics={"perplexity": ppl}, items=tokens)

    def _train_epoch(self) -> tuple[float, int]:
        """d2l's ``train_epoch_ch8`` with ``use_random_iter=False``."""
        state = None
        loss_sum, num_tokens = 0.0, 0.0  # d2l's Accumulator: Python floats
        for x_np, y_np in spec.epoch_batches(self.corpus, self.config, self.rng):
            X, Y = torch.from_numpy(x_np), torch.from_numpy(y_np)  # (B, T) int64
            if state is None:
                state = self._begin_state(X.shape[0])
            else:
                self._detach_state(state)  # cut the graph, keep the values
            y = Y.T.reshape(-1)  # (T*B,) time-major, as the logits
            X, y = X.to(self.device), y.to(self.device)
            y_hat, state = self._net(X, state)
            loss = self.loss(y_hat, y.long()).mean()
            self._update(loss)
            # float32 product first, then float: exactly d2l's metric.add(l * size, size)
            loss_sum += float((loss * y.numel()).detach())
            num_tokens += float(y.numel())
        return math.exp(loss_sum / num_tokens), int(num_tokens)

    # -- prediction --------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, prefix: str, num_preds: int) -> str:
        """d2l's ``predict_ch8``: warm up on ``prefix``, then ``num_preds`` argmax steps."""
        state = self._begin_state(1)
        outputs = [self.vocab[prefix[0]]]

        def get_input() -> torch.Tensor:
            return torch.tensor([outputs[-1]], device=self.device).reshape((1, 1))

        for y in prefix[1:]:  # warm-up period
            _, state = self._net(get_input(), state)
            outputs.append(self.vocab[y])
        for _ in range(num_preds):
            y_hat, state = self._net(get_input(), state)
            outputs.append(int(y_hat.argmax(dim=1).reshape(1)))
        return self.vocab.to_tokens(outputs)

    def _predict_all(self) -> dict[str, str]:
        return {p: self.predict(p, self.config.num_preds) for p in self.config.prefixes}

    def outputs(self) -> dict[str, Any]:
        """The continuations d2l prints at the end, and those at every logged epoch."""
        return {"predictions": self._predict_all(), "logged": dict(self.logged)}

    # -- numpy entry points ------------------------------------------------------------
    def _batch_state(self, batch: Batch, batch_size: int) -> Any:
        if "h0" not in batch:
            return self._begin_state(batch_size)
        h0 = torch.as_tensor(np.asarray(batch["h0"], dtype=self.np_dtype), device=self.device)
        return self._state_from_h(h0)

    def _ids(self, batch: Batch, key: str) -> torch.Tensor:
        return torch.as_tensor(np.asarray(batch[key], dtype=np.int64), device=self.device)

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        X = self._ids(batch, "X")  # (B, T)
        with torch.no_grad():
            logits, state = self._net(X, self._batch_state(batch, X.shape[0]))
        return {"logits": logits.cpu().numpy(), "h": self._h_of(state).cpu().numpy()}

    # -- optional hooks of the invariant checks (harness/invariants_checks.py) ----------
    def truncation_grads(self, first: Batch, second: Batch, cut: bool = True
                         ) -> dict[str, np.ndarray]:
        """d (loss on ``second``) / d (``first``'s h0), the state carried from ``first`` with
        the training loop's cut (``_detach_state``) or without it."""
        h0 = torch.as_tensor(np.asarray(first["h0"], dtype=self.np_dtype), device=self.device)
        h0.requires_grad_(True)
        _, state = self._net(self._ids(first, "X"), self._state_from_h(h0))
        if cut:
            self._detach_state(state)
        logits, _ = self._net(self._ids(second, "X"), state)
        loss = self.loss(logits, self._ids(second, "Y").T.reshape(-1)).mean()
        grad, = torch.autograd.grad(loss, h0, allow_unused=True)
        return {"h0": np.zeros(h0.shape) if grad is None else grad.cpu().numpy()}

    def clip_grads(self, grads: Mapping[str, np.ndarray], theta: float) -> Params:
        """This port's ``grad_clipping`` (d2l's) applied to ``grads``."""
        holders = []
        for g in grads.values():
            value = torch.from_numpy(np.array(g))
            holder = torch.zeros_like(value).requires_grad_(True)
            holder.grad = value
            holders.append(holder)
        grad_clipping(holders, theta)
        return {n: _grad(h).numpy() for n, h in zip(grads, holders, strict=True)}


class CharRnnTorchScratch(_CharRnnTorch):
    """d2l 8.5: ``RNNModelScratch`` with the book's ``get_params``/``init_rnn_state``/``rnn``."""

    port_id = "char_rnn/torch-scratch"
    variant = "scratch"

    def _build_model(self, vocab_size: int) -> None:
        self.vocab_size = num_inputs = num_outputs = vocab_size
        H, std = self.num_hiddens, self.config.init_std

        def normal(shape: tuple[int, int]) -> torch.Tensor:
            # d2l: torch.randn(size=shape, device=device) * 0.01; drawn on the CPU
            # generator here so that every device starts from the same weights
            return (torch.randn(size=shape) * std).to(self.device)

        W_xh = normal((num_inputs, H))
        W_hh = normal((H, H))
        b_h = torch.zeros(H, device=self.device)
        W_hq = normal((H, num_outputs))
        b_q = torch.zeros(num_outputs, device=self.device)
        self.params = [W_xh, W_hh, b_h, W_hq, b_q]
        for param in self.params:
            param.requires_grad_(True)

    def _net(self, X: torch.Tensor, state: Any, params: Any = None) -> tuple[torch.Tensor, Any]:
        inputs = F.one_hot(X.T, self.vocab_size).type(self.dtype)  # (T, B, V)
        W_xh, W_hh, b_h, W_hq, b_q = self.params if params is None else params
        H, = state  # (B, H)
        outputs = []
        for x in inputs:  # (B, V)
            H = torch.tanh(torch.mm(x, W_xh) + torch.mm(H, W_hh) + b_h)
            outputs.append(torch.mm(H, W_hq) + b_q)  # (B, V)
        return torch.cat(outputs, dim=0), (H,)  # (T*B, V), ((B, H),)

    def _begin_state(self, batch_size: int) -> State:
        return (torch.zeros((batch_size, self.num_hiddens), device=self.device,
                            dtype=self.dtype),)

    def _detach_state(self, state: State) -> None:
        for s in state:
            s.detach_()

    def _update(self, loss: torch.Tensor) -> None:
        loss.backward()
        grad_clipping(self.params, self.config.clip_theta)
        # d2l.sgd(params, lr, batch_size=1): the loss is already a mean
        with torch.no_grad():
            for param in self.params:
                param -= self.config.lr * filled_grad(param) / 1
                filled_grad(param).zero_()

    def _state_from_h(self, h: torch.Tensor) -> State:
        return (h,)

    def _h_of(self, state: State) -> torch.Tensor:
        return state[0]

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """d2l's mean cross-entropy on ``batch`` and its unclipped gradients."""
        X, Y = self._ids(batch, "X"), self._ids(batch, "Y")
        params = [p.detach().clone().requires_grad_(True) for p in self.params]
        logits, _ = self._net(X, self._batch_state(batch, X.shape[0]), params)
        loss = self.loss(logits, Y.T.reshape(-1)).mean()
        loss.backward()
        names = spec.SCRATCH_PARAMS
        grads = {n: _grad(p).cpu().numpy() for n, p in zip(names, params, strict=True)}
        return float(loss.detach()), grads

    def get_params(self) -> Params:
        return {n: p.detach().cpu().numpy().copy()
                for n, p in zip(spec.SCRATCH_PARAMS, self.params, strict=True)}

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Canonical scratch weights; concise ones are accepted with b_h = b_xh + b_hh."""
        values = dict(params)
        if "b_h" not in values:
            values["b_h"] = (np.asarray(values["b_xh"], dtype=np.float32)
                             + np.asarray(values["b_hh"], dtype=np.float32))
        V, H = self.vocab_size, self.num_hiddens
        _check_shapes(self.port_id, values, {"W_xh": (V, H), "W_hh": (H, H), "b_h": (H,),
                                             "W_hq": (H, V), "b_q": (V,)})
        with torch.no_grad():
            for name, param in zip(spec.SCRATCH_PARAMS, self.params, strict=True):
                param.copy_(torch.from_numpy(np.asarray(values[name], dtype=self.np_dtype)))

    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        self.dtype = torch.float64
        self.params = [p.detach().double().requires_grad_(True) for p in self.params]


class RNNModel(nn.Module):
    """d2l's torch ``RNNModel`` for a unidirectional ``nn.RNN`` (one layer)."""

    def __init__(self, rnn_layer: nn.RNN, vocab_size: int):
        super().__init__()
        self.rnn = rnn_layer
        self.vocab_size = vocab_size
        self.num_hiddens = self.rnn.hidden_size
        self.num_directions = 1
        self.linear = nn.Linear(self.num_hiddens, self.vocab_size)

    def forward(self, inputs: torch.Tensor, state: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        X = F.one_hot(inputs.T.long(), self.vocab_size)
        X = X.to(self.linear.weight.dtype)  # (T, B, V); d2l: torch.float32
        Y, state = self.rnn(X, state)  # (T, B, H), (1, B, H)
        return self.linear(Y.reshape((-1, Y.shape[-1]))), state  # (T*B, V)


class CharRnnTorchConcise(_CharRnnTorch):
    """d2l 8.6: ``nn.RNN(len(vocab), 256)`` + ``nn.Linear`` with PyTorch's default init."""

    port_id = "char_rnn/torch-concise"
    variant = "concise"

    def _build_model(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        # Built on the CPU in d2l's order (RNN layer, then the Linear inside RNNModel),
        # then moved, as d2l's net.to(device)
        rnn_layer = nn.RNN(vocab_size, self.num_hiddens)
        self.net = RNNModel(rnn_layer, vocab_size).to(self.device)
        self.updater = torch.optim.SGD(self.net.parameters(), self.config.lr)

    def _net(self, X: torch.Tensor, state: Any, params: Any = None) -> tuple[torch.Tensor, Any]:
        return self.net(X, state)

    def _begin_state(self, batch_size: int) -> torch.Tensor:
        layers = self.net.num_directions * self.net.rnn.num_layers  # 1 * 1
        return torch.zeros((layers, batch_size, self.num_hiddens), device=self.device,
                           dtype=self.dtype)

    def _detach_state(self, state: torch.Tensor) -> None:
        state.detach_()  # d2l: a tensor state for nn.RNN / nn.GRU

    def _trainable(self, net: nn.Module) -> list[torch.Tensor]:
        return [p for p in net.parameters() if p.requires_grad]

    def _update(self, loss: torch.Tensor) -> None:
        self.updater.zero_grad()
        loss.backward()
        grad_clipping(self._trainable(self.net), self.config.clip_theta)
        self.updater.step()

    def _state_from_h(self, h: torch.Tensor) -> torch.Tensor:
        return h.reshape((1, *h.shape))  # (1, B, H)

    def _h_of(self, state: torch.Tensor) -> torch.Tensor:
        return state[0]

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """d2l's mean cross-entropy on ``batch`` and its unclipped gradients."""
        X, Y = self._ids(batch, "X"), self._ids(batch, "Y")
        net = copy.deepcopy(self.net)
        net.zero_grad(set_to_none=True)
        logits, _ = net(X, self._batch_state(batch, X.shape[0]))
        loss = self.loss(logits, Y.T.reshape(-1)).mean()
        loss.backward()
        grads = {n: _grad(t) for n, t in self._named(net).items()}
        return float(loss.detach()), _canonical(grads)

    @staticmethod
    def _named(net: nn.Module) -> dict[str, torch.Tensor]:
        tensors = dict(net.named_parameters())
        return {name: tensors[torch_name] for name, torch_name in _TORCH_NAMES.items()}

    def get_params(self) -> Params:
        return _canonical({n: t.detach() for n, t in self._named(self.net).items()})

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Canonical concise weights; scratch ones are accepted with b_xh = b_h, b_hh = 0."""
        values = dict(params)
        if "b_xh" not in values:
            values = spec.scratch_to_concise(values)
        V, H = self.vocab_size, self.num_hiddens
        _check_shapes(self.port_id, values, {"W_xh": (V, H), "W_hh": (H, H), "b_xh": (H,),
                                             "b_hh": (H,), "W_hq": (H, V), "b_q": (V,)})
        with torch.no_grad():
            for name, tensor in self._named(self.net).items():
                value = np.asarray(values[name], dtype=self.np_dtype)
                tensor.copy_(torch.from_numpy(value.T if value.ndim == 2 else value))

    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        self.dtype = torch.float64
        self.net.double()


#: Canonical name -> RNNModel parameter (spec.py documents the mapping).
_TORCH_NAMES = {"W_xh": "rnn.weight_ih_l0", "W_hh": "rnn.weight_hh_l0",
                "b_xh": "rnn.bias_ih_l0", "b_hh": "rnn.bias_hh_l0",
                "W_hq": "linear.weight", "b_q": "linear.bias"}
#: Canonical names whose torch tensor is stored transposed ((out, in) vs x @ W).
_TRANSPOSED = ("W_xh", "W_hh", "W_hq")


def _grad(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.grad is None:
        raise RuntimeError("loss_and_grads: a parameter got no gradient")  # cannot happen
    return tensor.grad


def _canonical(tensors: Mapping[str, torch.Tensor]) -> Params:
    """torch's (out, in) weights as canonical x @ W arrays (copies, on the CPU)."""
    return {n: (t.T if n in _TRANSPOSED else t).cpu().numpy().copy() for n, t in tensors.items()}
