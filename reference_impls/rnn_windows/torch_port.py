"""rnn_windows in PyTorch: the article's nn.RNN + Linear model, MSELoss and Adam.

An adapter: the loop is ``spec.Schedule``. Bit-for-bit equal to the modernised original in
tests/oracles/rnn_windows_original.py. ``RnnWindowsTorchLast`` is the "last" variant (loss
on the last time step only).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.backends import torch_backend as tb
from harness.interface import Batch, Params
from reference_impls.rnn_windows import spec


@contextmanager
def _broadcast_target_allowed() -> Iterator[None]:
    """Silence only MSELoss's broadcast warning: the (5, 1) vs (1,) loss is the article's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Using a target size \(", category=UserWarning)
        yield


class _Model(nn.Module):
    """The article's RNN class: nn.RNN then a Linear head on every time step."""

    def __init__(self, config: spec.Config):
        super().__init__()
        self.hidden_size = config.hidden_size
        self.rnn = nn.RNN(config.input_size, config.hidden_size, batch_first=True)
        self.fc = nn.Linear(config.hidden_size, config.output_size)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        out, hidden = self.rnn(x, hidden)  # (B, T, H), (1, B, H)
        # the article's out.view(-1, H); reshape gives the same values and also accepts
        # B > 1, where batch_first output is not contiguous
        return self.fc(out.reshape(-1, self.hidden_size)), hidden  # (B*T, 1)


class RnnWindowsTorch:
    port_id = "rnn_windows/torch"
    framework = "torch"
    backend = tb
    #: the article scores every time step's output against the window's one target
    last_step_only = False
    #: float32 as in the article; ``to_float64`` (invariant checks only) switches it
    dtype = torch.float32

    def build(self, config: spec.Config, seed: int, device: str, data: Mapping[str, Any]
              ) -> None:
        self.config = config
        self.device = tb.device(device)
        # Drawn on the CPU generator in the article's order (RNN, then Linear).
        torch.manual_seed(seed)
        self.model = _Model(config).to(self.device)
        # listed once: named_parameters() walks the modules (~5 us; the observer asks
        # for the tensors twice a step and the gradients once)
        self._named = dict(self.model.named_parameters())
        self.criterion = nn.MSELoss()
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.lr, betas=(config.beta1, config.beta2),
            eps=config.eps)

    def _t(self, array: Any) -> torch.Tensor:
        return tb.tensor(array, self.device, self.dtype)

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.last_step_only:
            output = output[-1:]  # (1, 1): the window's last step
        with _broadcast_target_allowed():
            return self.criterion(output, target)

    # -- the schedule's operations -----------------------------------------------------
    @staticmethod
    def zero_state(batch_size: int) -> None:
        return None  # the article's hidden = None: nn.RNN starts from zeros

    def forward_loss(self, batch: Batch, state: torch.Tensor | None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        output, hidden = self.model(self._t(batch["x"]), state)  # (B*T, 1), (1, B, H)
        return self._loss(output, self._t(batch["y"]).reshape(-1)), hidden

    def backward(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad()
        loss.backward()

    def update(self) -> None:
        self.optimizer.step()

    @staticmethod
    def cut(hidden: torch.Tensor) -> torch.Tensor:
        return hidden.detach()  # carried to the next window, graph cut

    @staticmethod
    def loss_value(loss: torch.Tensor) -> float:
        return loss.item()

    def tensors(self) -> dict[str, torch.Tensor]:
        return dict(self._named)

    def grads(self) -> dict[str, torch.Tensor]:
        return {path: tb.filled_grad(p) for path, p in self.tensors().items()}

    # -- checkpoint members (SpecPort.checkpoint / restore) ------------------------------
    def optimizer_state(self) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
        """Adam's moments by storage path, and its step count (every parameter's)."""
        return tb.adam_state(self.optimizer, self.tensors(), self.port_id)

    def load_optimizer_state(self, slots: Mapping[str, Mapping[str, np.ndarray]],
                             scalars: Mapping[str, Any]) -> None:
        tb.load_adam_state(self.optimizer, self.tensors(), slots, int(scalars["step"]))

    # -- numpy entry points ------------------------------------------------------------
    def _hidden_from(self, batch: Batch) -> torch.Tensor | None:
        return self._t(batch["h0"]) if "h0" in batch else None

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        with torch.no_grad():
            out, hidden = self.model(self._t(batch["x"]), self._hidden_from(batch))
        return {"y": out.cpu().numpy(), "h": hidden.cpu().numpy()}

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """The article's loss on one window (x (1, T, 1), y (1,)) and canonical grads;
        .grad is left untouched."""
        loss, _ = self.forward_loss(batch, self._hidden_from(batch))
        named = self.tensors()
        grads = torch.autograd.grad(loss, list(named.values()))
        return loss.item(), spec.PARAMS.read(self.framework, dict(zip(named, grads, strict=True)),
                                             tb)

    # -- optional hooks of the invariant checks (harness.invariants) ----------------------
    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        self.dtype = torch.float64
        self.model.double()
        self._named = dict(self.model.named_parameters())

    def truncation_grads(self, first: Batch, second: Batch, cut: bool = True
                         ) -> dict[str, np.ndarray]:
        """d (loss on ``second``) / d (``first``'s h0), the hidden state carried from
        ``first`` with the training loop's cut (``cut``) or without it."""
        h0 = self._t(first["h0"]).requires_grad_(True)
        _, hidden = self.model(self._t(first["x"]), h0)
        loss, _ = self.forward_loss(second, self.cut(hidden) if cut else hidden)
        grad, = torch.autograd.grad(loss, h0, allow_unused=True)
        return {"h0": np.zeros(h0.shape) if grad is None else grad.cpu().numpy()}


class RnnWindowsTorchLast(RnnWindowsTorch):
    """The "last" variant: the loss scores only the window's last time step."""

    port_id = "rnn_windows/torch-last"
    last_step_only = True
