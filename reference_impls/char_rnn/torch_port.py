"""char_rnn in PyTorch: d2l 0.17.6's chapter-8 scratch RNN and its ``nn.RNN`` model, op for op.

Adapters: the loop (``train_ch8`` / ``train_epoch_ch8`` / ``predict_ch8``) is
``spec.Schedule``. Each operation repeats d2l's own torch code (``RNNModelScratch`` with the
book's ``get_params``, ``init_rnn_state`` and ``rnn``; ``RNNModel``; ``grad_clipping``;
``sgd``) in the same order, so the per-epoch perplexity equals d2l's bit for bit
(tests/reference_impls/char_rnn/test_fidelity_torch.py).

Departures that change no value: prediction runs under ``torch.no_grad()``; the epoch's loss
sum detaches ``l * y.numel()`` before ``float()`` (d2l converts it while it requires grad,
which warns). One departure on CUDA only: the scratch weights are drawn on the CPU generator
and then moved (d2l draws them on the device), so every device starts from the same weights;
the concise model is built on the CPU and moved, as in d2l.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from harness.backends import torch_backend as tb
from harness.interface import Batch, Params
from reference_impls.char_rnn import spec

State = tuple[torch.Tensor, ...]


def grad_clipping(params: list[torch.Tensor], theta: float) -> float:
    """d2l's ``grad_clipping``: rescale all gradients to global L2 norm ``theta``; returns
    the norm before clipping."""
    # d2l: torch.sqrt(sum(torch.sum((p.grad ** 2)) for p in params)), i.e. Python's sum
    # from int 0 in parameter order; the order fixes the rounding
    total: Any = 0
    for p in params:
        total = total + torch.sum(tb.filled_grad(p) ** 2)
    norm = torch.sqrt(total)
    if norm > theta:
        for param in params:
            tb.filled_grad(param)[:] *= theta / norm
    return float(norm)


class _CharRnnTorch:
    """What both variants share: d2l's loss, clipping, metric and prediction input."""

    port_id = "char_rnn/torch"
    framework = "torch"
    backend = tb
    variant = ""
    #: float32 as in d2l; ``to_float64`` (invariant checks only) switches it
    dtype = torch.float32

    def build(self, config: spec.Config, seed: int, device: str, data: Mapping[str, Any]
              ) -> None:
        self.config = config
        self.device = tb.device(device)
        self.vocab_size = data["vocab_size"]
        self.num_hiddens = config.hiddens(self.variant)
        self.loss = nn.CrossEntropyLoss()
        torch.manual_seed(seed)  # draws the initial weights, on the CPU generator
        self._build_model()

    # -- per variant -------------------------------------------------------------------
    def _build_model(self) -> None:
        raise NotImplementedError

    def _net(self, X: torch.Tensor, state: Any, params: Any = None) -> tuple[torch.Tensor, Any]:
        """The model on token ids X (B, T): logits (T*B, V) and the new state.

        ``params`` (scratch only) replaces the model's own tensors, for ``loss_and_grads``.
        """
        raise NotImplementedError

    def _trainable(self) -> list[torch.Tensor]:
        """The tensors d2l's ``grad_clipping`` walks, in its order."""
        raise NotImplementedError

    def _state_from_h(self, h: torch.Tensor) -> Any:
        raise NotImplementedError

    def _h_of(self, state: Any) -> torch.Tensor:
        raise NotImplementedError

    def zero_state(self, batch_size: int) -> Any:
        raise NotImplementedError

    def cut(self, state: Any) -> Any:
        raise NotImplementedError

    # -- the schedule's operations -----------------------------------------------------
    def _ids(self, batch: Batch, key: str) -> torch.Tensor:
        return torch.as_tensor(np.asarray(batch[key], dtype=np.int64), device=self.device)

    def _mean_loss(self, logits: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        y = Y.T.reshape(-1)  # (T*B,) time-major, as the logits
        return self.loss(logits, y.long()).mean()

    def forward_loss(self, batch: Batch, state: Any) -> tuple[torch.Tensor, Any]:
        y_hat, state = self._net(self._ids(batch, "X"), state)
        return self._mean_loss(y_hat, self._ids(batch, "Y")), state

    def clip(self, theta: float) -> float:
        return grad_clipping(self._trainable(), theta)

    @staticmethod
    def loss_value(loss: torch.Tensor, scale: int = 1) -> float:
        # float32 product first, then float: exactly d2l's metric.add(l * y.numel(), ...)
        return float((loss * scale).detach())

    @torch.no_grad()
    def predict_step(self, token: int, state: Any) -> tuple[np.ndarray, Any]:
        """One step of d2l's ``predict_ch8``: its ``get_input()`` through the model."""
        X = torch.tensor([token], device=self.device).reshape((1, 1))
        y_hat, state = self._net(X, state)
        return y_hat.cpu().numpy(), state  # (1, V)

    # -- numpy entry points ------------------------------------------------------------
    def _batch_state(self, batch: Batch, batch_size: int) -> Any:
        if "h0" not in batch:
            return self.zero_state(batch_size)
        h0 = tb.tensor(batch["h0"], self.device, self.dtype)
        return self._state_from_h(h0)

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        X = self._ids(batch, "X")  # (B, T)
        with torch.no_grad():
            logits, state = self._net(X, self._batch_state(batch, X.shape[0]))
        return {"logits": logits.cpu().numpy(), "h": self._h_of(state).cpu().numpy()}

    def tensors(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def grads(self) -> dict[str, torch.Tensor]:
        """Storage name -> the live gradient (the training observables read it)."""
        return {path: tb.filled_grad(t) for path, t in self.tensors().items()}

    def _canonical_grads(self, tensors: Mapping[str, torch.Tensor]) -> Params:
        """Gradients of ``tensors`` (storage name -> tensor) under canonical names."""
        grads = {path: tb.filled_grad(t) for path, t in tensors.items()}
        return spec.PARAMS[self.variant].read(self.framework, grads, tb)

    # -- optional hooks of the invariant checks (harness/invariants) --------------------
    def truncation_grads(self, first: Batch, second: Batch, cut: bool = True
                         ) -> dict[str, np.ndarray]:
        """d (loss on ``second``) / d (``first``'s h0), the state carried from ``first`` with
        the training loop's cut or without it."""
        h0 = tb.tensor(first["h0"], self.device, self.dtype).requires_grad_(True)
        _, state = self._net(self._ids(first, "X"), self._state_from_h(h0))
        if cut:
            state = self.cut(state)
        logits, _ = self._net(self._ids(second, "X"), state)
        loss = self._mean_loss(logits, self._ids(second, "Y"))
        grad, = torch.autograd.grad(loss, h0, allow_unused=True)
        return {"h0": np.zeros(h0.shape) if grad is None else grad.cpu().numpy()}

    @staticmethod
    def clip_grads(grads: Mapping[str, np.ndarray], theta: float) -> Params:
        """This port's ``grad_clipping`` (d2l's) applied to ``grads``."""
        holders = []
        for g in grads.values():
            value = torch.from_numpy(np.array(g))
            holder = torch.zeros_like(value).requires_grad_(True)
            holder.grad = value
            holders.append(holder)
        grad_clipping(holders, theta)
        return {n: tb.filled_grad(h).numpy() for n, h in zip(grads, holders, strict=True)}


class CharRnnTorchScratch(_CharRnnTorch):
    """d2l 8.5: ``RNNModelScratch`` with the book's ``get_params``/``init_rnn_state``/``rnn``."""

    port_id = "char_rnn/torch-scratch"
    variant = "scratch"

    def _build_model(self) -> None:
        num_inputs = num_outputs = self.vocab_size
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

    def _trainable(self) -> list[torch.Tensor]:
        return self.params

    def zero_state(self, batch_size: int) -> State:
        return (torch.zeros((batch_size, self.num_hiddens), device=self.device,
                            dtype=self.dtype),)

    def cut(self, state: State) -> State:
        for s in state:
            s.detach_()
        return state

    @staticmethod
    def backward(loss: torch.Tensor) -> None:
        loss.backward()  # grads were zeroed by the previous update (d2l.sgd)

    def update(self) -> None:
        # d2l.sgd(params, lr, batch_size=1): the loss is already a mean
        with torch.no_grad():
            for param in self.params:
                param -= self.config.lr * tb.filled_grad(param) / 1
                tb.filled_grad(param).zero_()

    def tensors(self) -> dict[str, torch.Tensor]:
        return dict(zip(spec.SCRATCH_PARAMS, self.params, strict=True))

    def _state_from_h(self, h: torch.Tensor) -> State:
        return (h,)

    def _h_of(self, state: State) -> torch.Tensor:
        return state[0]

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """d2l's mean cross-entropy on ``batch`` and its unclipped gradients."""
        X = self._ids(batch, "X")
        params = [p.detach().clone().requires_grad_(True) for p in self.params]
        logits, _ = self._net(X, self._batch_state(batch, X.shape[0]), params)
        loss = self._mean_loss(logits, self._ids(batch, "Y"))
        loss.backward()
        named = dict(zip(spec.SCRATCH_PARAMS, params, strict=True))
        return float(loss.detach()), self._canonical_grads(named)

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

    def _build_model(self) -> None:
        # Built on the CPU in d2l's order (RNN layer, then the Linear inside RNNModel),
        # then moved, as d2l's net.to(device)
        rnn_layer = nn.RNN(self.vocab_size, self.num_hiddens)
        self.net = RNNModel(rnn_layer, self.vocab_size).to(self.device)
        # listed once: named_parameters() walks the modules (~5 us; the observer asks
        # for the tensors twice a step and the gradients once)
        self._named = dict(self.net.named_parameters())
        self.updater = torch.optim.SGD(self.net.parameters(), self.config.lr)

    def _net(self, X: torch.Tensor, state: Any, params: Any = None) -> tuple[torch.Tensor, Any]:
        return self.net(X, state)

    def _trainable(self) -> list[torch.Tensor]:
        return [p for p in self.net.parameters() if p.requires_grad]

    def zero_state(self, batch_size: int) -> torch.Tensor:
        layers = self.net.num_directions * self.net.rnn.num_layers  # 1 * 1
        return torch.zeros((layers, batch_size, self.num_hiddens), device=self.device,
                           dtype=self.dtype)

    def cut(self, state: torch.Tensor) -> torch.Tensor:
        state.detach_()  # d2l: a tensor state for nn.RNN / nn.GRU
        return state

    def backward(self, loss: torch.Tensor) -> None:
        self.updater.zero_grad()
        loss.backward()

    def update(self) -> None:
        self.updater.step()

    def tensors(self) -> dict[str, torch.Tensor]:
        return dict(self._named)

    def _state_from_h(self, h: torch.Tensor) -> torch.Tensor:
        return h.reshape((1, *h.shape))  # (1, B, H)

    def _h_of(self, state: torch.Tensor) -> torch.Tensor:
        return state[0]

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """d2l's mean cross-entropy on ``batch`` and its unclipped gradients."""
        X = self._ids(batch, "X")
        net = copy.deepcopy(self.net)
        net.zero_grad(set_to_none=True)
        logits, _ = net(X, self._batch_state(batch, X.shape[0]))
        loss = self._mean_loss(logits, self._ids(batch, "Y"))
        loss.backward()
        return float(loss.detach()), self._canonical_grads(dict(net.named_parameters()))

    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        self.dtype = torch.float64
        self.net.double()
        self._named = dict(self.net.named_parameters())
