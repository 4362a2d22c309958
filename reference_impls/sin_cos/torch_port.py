"""sin_cos in PyTorch: the article's ``nn.RNN`` + per-step ``Linear`` model with Adam.

An adapter: the loop is ``spec.Schedule``. Bit-for-bit equal to the modernised original in
tests/oracles/sin_cos_original.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.backends import torch_backend as tb
from harness.interface import Batch, Params
from reference_impls.sin_cos import spec


class _Regressor(nn.Module):
    """The article's ``RNN`` module: construction order fixes the draw order."""

    def __init__(self, config: spec.Config):
        super().__init__()
        self.rnn = nn.RNN(input_size=config.input_size, hidden_size=config.hidden_size,
                          num_layers=config.num_layers, batch_first=True)
        self.out = nn.Linear(config.hidden_size, 1)

    def forward(self, x: torch.Tensor, h_state: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        r_out, h_state = self.rnn(x, h_state)  # (B, T, H), (1, B, H)
        # the article's per-time-step read-out loop, kept (it rounds like the original)
        outs = [self.out(r_out[:, t, :]) for t in range(r_out.size(1))]  # T x (B, 1)
        return torch.stack(outs, dim=1), h_state  # (B, T, 1)


class SinCosTorch:
    port_id = "sin_cos/torch"
    framework = "torch"
    backend = tb
    #: float32 as in the article; ``to_float64`` (invariant checks only) switches it
    dtype = torch.float32

    def build(self, config: spec.Config, seed: int, device: str, data: Mapping[str, Any]
              ) -> None:
        self.config = config
        self.device = tb.device(device)
        # Drawn on the CPU generator (rnn weights and biases, then Linear) on every device.
        torch.manual_seed(seed)
        self.model = _Regressor(config).to(self.device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.lr, betas=(config.beta1, config.beta2),
            eps=config.eps)
        self.loss_func = nn.MSELoss()
        self.prediction: torch.Tensor | None = None
        # listed once: named_parameters() walks the modules (~5 us; the observer asks
        # for the tensors twice a step and the gradients once)
        self._named = dict(self.model.named_parameters())

    def _t(self, array: Any) -> torch.Tensor:
        return tb.tensor(array, self.device, self.dtype)

    # -- the schedule's operations -----------------------------------------------------
    @staticmethod
    def zero_state(batch_size: int) -> None:
        return None  # the article's h_state = None: nn.RNN starts from zeros

    def forward_loss(self, batch: Batch, state: torch.Tensor | None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        self.prediction, h_state = self.model(self._t(batch["x"]), state)  # (1, T, 1)
        return self.loss_func(self.prediction, self._t(batch["y"])), h_state

    def backward(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad()
        loss.backward()

    def update(self) -> None:
        self.optimizer.step()

    @staticmethod
    def cut(h_state: torch.Tensor) -> torch.Tensor:
        return h_state.data  # the article's h_state.data: carried on, graph cut

    @staticmethod
    def loss_value(loss: torch.Tensor) -> float:
        return loss.item()

    def last_prediction(self) -> np.ndarray:
        return tb.to_numpy(_required(self.prediction, "last_prediction() before forward_loss"))

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

    def state_from_numpy(self, parts: list[np.ndarray]) -> list[torch.Tensor]:
        """The carried h_state (1, 1, H) as ``cut`` leaves it: graph-free, own memory."""
        return [self._t(part).clone() for part in parts]

    # -- numpy entry points ------------------------------------------------------------
    def _inputs(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        h0 = batch.get("h0")
        return self._t(batch["x"]), None if h0 is None else self._t(h0)

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        x, h0 = self._inputs(batch)
        with torch.no_grad():
            y, h = self.model(x, h0)
        return {"y": y.cpu().numpy(), "h": h.cpu().numpy()}

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """The article's MSE loss on ``batch`` and its gradients; .grad is left untouched."""
        x, h0 = self._inputs(batch)
        prediction, _ = self.model(x, h0)
        loss = self.loss_func(prediction, self._t(batch["y"]))
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
        """d (loss on ``second``) / d (``first``'s h0), the state carried from ``first``
        with the training loop's cut (``cut``) or without it."""
        x1, h0 = self._inputs(first)
        h0 = _required(h0, "truncation_grads needs an initial state 'h0' in the first batch")
        h0.requires_grad_(True)
        _, h_state = self.model(x1, h0)
        x2, _ = self._inputs(second)
        prediction, _ = self.model(x2, self.cut(h_state) if cut else h_state)
        loss = self.loss_func(prediction, self._t(second["y"]))
        grad, = torch.autograd.grad(loss, h0, allow_unused=True)
        return {"h0": np.zeros(h0.shape) if grad is None else grad.cpu().numpy()}


def _required(value: torch.Tensor | None, why: str) -> torch.Tensor:
    if value is None:
        raise ValueError(why)
    return value
