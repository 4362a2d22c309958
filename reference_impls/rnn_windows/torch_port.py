"""rnn_windows in PyTorch: the article's nn.RNN + Linear model, MSELoss and Adam.

Bit-for-bit equal to the modernised original in tests/oracles/rnn_windows_original.py.
``RnnWindowsTorchLast`` is the "last" variant (loss on the last time step only).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.interface import Batch, EpochRecord, Params
from reference_impls._frameworks import torch_device
from reference_impls.rnn_windows import spec

#: torch's canonical-name map: name -> (module attribute path, stored transposed?)
_TORCH_NAMES = {
    "W_xh": ("rnn.weight_ih_l0", True),
    "W_hh": ("rnn.weight_hh_l0", True),
    "b_xh": ("rnn.bias_ih_l0", False),
    "b_hh": ("rnn.bias_hh_l0", False),
    "W_hq": ("fc.weight", True),
    "b_q": ("fc.bias", False),
}


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
    #: the article scores every time step's output against the window's one target
    last_step_only = False
    #: float32 as in the article; ``to_float64`` (invariant checks only) switches it
    dtype = torch.float32

    @staticmethod
    def _cut(hidden: torch.Tensor) -> torch.Tensor:
        return hidden.detach()  # carried to the next window, graph cut

    def build(self, config: spec.Config, seed: int, device: str) -> None:
        self.config = config
        self.device = torch_device(device)
        data = spec.make_data(config)
        self.x = torch.from_numpy(data["x"]).to(self.device)  # (N, T, 1)
        self.y = torch.from_numpy(data["y"]).to(self.device)  # (N, 1)
        # Drawn on the CPU generator in the article's order (RNN, then Linear).
        torch.manual_seed(seed)
        self.model = _Model(config).to(self.device)
        self.criterion = nn.MSELoss()
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.lr, betas=(config.beta1, config.beta2),
            eps=config.eps)

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.last_step_only:
            output = output[-1:]  # (1, 1): the window's last step
        with _broadcast_target_allowed():
            return self.criterion(output, target)

    def train(self) -> Iterator[EpochRecord]:
        n = self.x.size(0)
        for _ in range(self.config.epochs):
            hidden = None  # zeros at every epoch start
            total_loss = 0.0  # Python float sum of loss.item(), as printed
            for i in range(n):
                self.optimizer.zero_grad()
                output, hidden = self.model(self.x[i:i + 1], hidden)  # (T, 1), (1, 1, H)
                hidden = self._cut(hidden)  # carried to the next window, graph cut
                loss = self._loss(output, self.y[i])  # y[i] is (1,): broadcast (quirk 1)
                loss.backward()
                self.optimizer.step()
                total_loss += loss.item()
            yield EpochRecord(metrics={"loss": total_loss}, items=n)

    def outputs(self) -> dict[str, Any]:
        """Last-step prediction for every window, each from a zero hidden state."""
        predictions = []
        with torch.no_grad():
            for i in range(self.x.size(0)):  # one window at a time, as in training
                out, _ = self.model(self.x[i:i + 1], None)  # (T, 1)
                predictions.append(out[-1].item())
        return {"predictions": predictions}

    def _as_tensor(self, array: Any) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), device=self.device, dtype=self.dtype)

    def _hidden_from(self, batch: Batch) -> torch.Tensor | None:
        return self._as_tensor(batch["h0"]) if "h0" in batch else None

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        with torch.no_grad():
            out, hidden = self.model(self._as_tensor(batch["x"]), self._hidden_from(batch))
        return {"y": out.cpu().numpy(), "h": hidden.cpu().numpy()}

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """The article's loss on one window (x (1, T, 1), y (1,)) and canonical grads."""
        self.model.zero_grad()
        output, _ = self.model(self._as_tensor(batch["x"]), self._hidden_from(batch))
        loss = self._loss(output, self._as_tensor(batch["y"]).reshape(-1))
        loss.backward()
        grads = {}
        for name, (path, transposed) in _TORCH_NAMES.items():
            grad = self.model.get_parameter(path).grad
            grads[name] = _to_numpy(grad, transposed)
        self.model.zero_grad()
        return loss.item(), grads

    def get_params(self) -> Params:
        return {name: _to_numpy(self.model.get_parameter(path), transposed)
                for name, (path, transposed) in _TORCH_NAMES.items()}

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        params = spec.canonical_params(params)
        with torch.no_grad():
            for name, (path, transposed) in _TORCH_NAMES.items():
                value = params[name].T if transposed else params[name]
                target = self.model.get_parameter(path)
                target.copy_(torch.from_numpy(np.ascontiguousarray(value)).reshape(target.shape))

    # -- optional hooks of the invariant checks (harness/invariants_checks.py) ----------
    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        self.dtype = torch.float64
        self.model.double()

    def truncation_grads(self, first: Batch, second: Batch, cut: bool = True
                         ) -> dict[str, np.ndarray]:
        """d (loss on ``second``) / d (``first``'s h0), the hidden state carried from
        ``first`` with the training loop's cut (``_cut``) or without it."""
        h0 = self._as_tensor(first["h0"]).requires_grad_(True)
        _, hidden = self.model(self._as_tensor(first["x"]), h0)
        hidden = self._cut(hidden) if cut else hidden
        output, _ = self.model(self._as_tensor(second["x"]), hidden)
        loss = self._loss(output, self._as_tensor(second["y"]).reshape(-1))
        grad, = torch.autograd.grad(loss, h0, allow_unused=True)
        return {"h0": np.zeros(h0.shape) if grad is None else grad.cpu().numpy()}


class RnnWindowsTorchLast(RnnWindowsTorch):
    """The "last" variant: the loss scores only the window's last time step."""

    port_id = "rnn_windows/torch-last"
    last_step_only = True


def _to_numpy(tensor: Any, transposed: bool) -> np.ndarray:
    array = tensor.detach().cpu().numpy()
    return np.ascontiguousarray(array.T if transposed else array).copy()
