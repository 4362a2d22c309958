"""sin_cos in PyTorch: the article's ``nn.RNN`` + per-step ``Linear`` model with Adam.

Bit-for-bit equal to the modernised original in tests/oracles/sin_cos_original.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.interface import Batch, EpochRecord, Params
from reference_impls._frameworks import torch_device
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
    #: float32 as in the article; ``to_float64`` (invariant checks only) switches it
    dtype = torch.float32

    @property
    def np_dtype(self) -> type[np.floating[Any]]:
        return np.float64 if self.dtype == torch.float64 else np.float32

    @staticmethod
    def _cut(h_state: torch.Tensor) -> torch.Tensor:
        return h_state.data  # the article's h_state.data: carried on, graph cut

    def build(self, config: spec.Config, seed: int, device: str) -> None:
        self.config = config
        self.device = torch_device(device)
        self.data = spec.make_data(config)
        # Drawn on the CPU generator (rnn weights and biases, then Linear) on every device.
        torch.manual_seed(seed)
        self.model = _Regressor(config).to(self.device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.lr, betas=(config.beta1, config.beta2),
            eps=config.eps)
        self.loss_func = nn.MSELoss()
        self.last: dict[str, Any] = {}

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    def train(self) -> Iterator[EpochRecord]:
        h_state = None  # the article's initial hidden state (zeros)
        for window in self.data:
            x, y = self._tensor(window["x"]), self._tensor(window["y"])  # (1, T, 1)
            prediction, h_state = self.model(x, h_state)
            h_state = self._cut(h_state)  # carried to the next step, graph cut
            loss = self.loss_func(prediction, y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.last = {"t": window["t"], "y": window["y"], "prediction": prediction.detach()}
            yield EpochRecord(metrics={"loss": loss.item()}, items=self.config.time_step)

    def outputs(self) -> dict[str, Any]:
        """The last step's plot (see spec.last_step_outputs)."""
        if not self.last:
            return {}
        return spec.last_step_outputs(self.last, self.last["prediction"].cpu().numpy())

    def _inputs(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self._tensor(np.asarray(batch["x"], dtype=self.np_dtype))
        h0 = batch.get("h0")
        return x, None if h0 is None else self._tensor(np.asarray(h0, dtype=self.np_dtype))

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        x, h0 = self._inputs(batch)
        with torch.no_grad():
            y, h = self.model(x, h0)
        return {"y": y.cpu().numpy(), "h": h.cpu().numpy()}

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """The article's MSE loss on ``batch`` and its gradients; .grad is left untouched."""
        x, h0 = self._inputs(batch)
        y = self._tensor(np.asarray(batch["y"], dtype=self.np_dtype))
        prediction, _ = self.model(x, h0)
        loss = self.loss_func(prediction, y)
        named = dict(self.model.named_parameters())
        grads = torch.autograd.grad(loss, list(named.values()))
        return loss.item(), _canonical(dict(zip(named, grads, strict=True)))

    def get_params(self) -> Params:
        return _canonical(dict(self.model.named_parameters()))

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        checked = spec.checked_params(self.config, params, self.port_id, self.np_dtype)
        named = dict(self.model.named_parameters())
        with torch.no_grad():
            for canon, torch_name in _NAMES.items():
                value = checked[canon].T if checked[canon].ndim == 2 else checked[canon]
                named[torch_name].copy_(torch.from_numpy(np.ascontiguousarray(value)))

    # -- optional hooks of the invariant checks (harness/invariants_checks.py) ----------
    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        self.dtype = torch.float64
        self.model.double()

    def truncation_grads(self, first: Batch, second: Batch, cut: bool = True
                         ) -> dict[str, np.ndarray]:
        """d (loss on ``second``) / d (``first``'s h0), the state carried from ``first``
        with the training loop's cut (``_cut``) or without it."""
        x1, h0 = self._inputs(first)
        h0 = _required(h0)
        _, h_state = self.model(x1, h0)
        x2, _ = self._inputs(second)
        y2 = self._tensor(np.asarray(second["y"], dtype=self.np_dtype))
        prediction, _ = self.model(x2, self._cut(h_state) if cut else h_state)
        loss = self.loss_func(prediction, y2)
        grad, = torch.autograd.grad(loss, h0, allow_unused=True)
        return {"h0": np.zeros(h0.shape) if grad is None else grad.cpu().numpy()}


def _required(h0: torch.Tensor | None) -> torch.Tensor:
    if h0 is None:
        raise ValueError("truncation_grads needs an initial state 'h0' in the first batch")
    return h0.requires_grad_(True)


#: canonical name -> torch parameter name; 2-D weights are stored transposed in torch.
_NAMES = {
    "W_xh": "rnn.weight_ih_l0", "W_hh": "rnn.weight_hh_l0",
    "b_xh": "rnn.bias_ih_l0", "b_hh": "rnn.bias_hh_l0",
    "W_hq": "out.weight", "b_q": "out.bias",
}


def _canonical(tensors: Mapping[str, torch.Tensor]) -> Params:
    out = {}
    for canon, torch_name in _NAMES.items():
        value = tensors[torch_name].detach().cpu().numpy()
        out[canon] = np.ascontiguousarray(value.T if value.ndim == 2 else value).copy()
    return out
