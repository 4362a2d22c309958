"""elman_sine in PyTorch: the article's code with ``Variable`` replaced by tensors.

Bit-for-bit equal to the modernised original in tests/oracles/elman_sine_original.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from harness.interface import Batch, EpochRecord, Params
from reference_impls._frameworks import filled_grad, torch_device
from reference_impls.elman_sine import spec


class ElmanSineTorch:
    port_id = "elman_sine/torch"

    def build(self, config: spec.Config, seed: int, device: str) -> None:
        self.config = config
        self.device = torch_device(device)
        data = spec.make_data(config)
        self.x = torch.from_numpy(data["x"]).to(self.device)  # (T, 1)
        self.y = torch.from_numpy(data["y"]).to(self.device)  # (T, 1)
        # Drawn on the CPU generator in the article's order (w1, then w2) on every device.
        torch.manual_seed(seed)
        w1 = torch.empty(config.input_size, config.hidden_size).normal_(0.0, config.w1_std)
        w2 = torch.empty(config.hidden_size, config.output_size).normal_(0.0, config.w2_std)
        self.w1 = w1.to(self.device).requires_grad_(True)
        self.w2 = w2.to(self.device).requires_grad_(True)

    def _step(self, inp: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xh = torch.cat((inp, context), 1)  # (1, 1 + H)
        context = torch.tanh(xh.mm(self.w1))  # (1, H)
        return context.mm(self.w2), context  # (1, 1), (1, H)

    def _zero_context(self, requires_grad: bool) -> torch.Tensor:
        shape = (1, self.config.hidden_size)
        return torch.zeros(shape, device=self.device, dtype=self.w1.dtype,
                           requires_grad=requires_grad)

    @staticmethod
    def _cut(context: torch.Tensor) -> torch.Tensor:
        """The article's re-wrap after every step: the value carries on, the graph is cut."""
        context = context.detach()  # Variable(context_state.data)
        return context

    def train(self) -> Iterator[EpochRecord]:
        lr = self.config.lr
        for _ in range(self.config.epochs):
            total_loss: Any = 0
            context = self._zero_context(requires_grad=True)  # the article's quirk
            for j in range(self.x.size(0)):
                pred, context = self._step(self.x[j:j + 1], context)
                loss = (pred - self.y[j:j + 1]).pow(2).sum() / 2
                total_loss = total_loss + loss.detach()  # float32 running sum, as printed
                loss.backward()
                with torch.no_grad():
                    self.w1 -= lr * filled_grad(self.w1)
                    self.w2 -= lr * filled_grad(self.w2)
                filled_grad(self.w1).zero_()
                filled_grad(self.w2).zero_()
                context = self._cut(context)
            yield EpochRecord(metrics={"loss": total_loss.item()}, items=self.x.size(0))

    def outputs(self) -> dict[str, Any]:
        """The article's prediction pass: one step per point from a zero context."""
        return {"predictions": self.forward({"x": self.x.cpu().numpy()})["y"][:, 0].tolist()}

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        x = torch.as_tensor(np.asarray(batch["x"]), device=self.device, dtype=self.w1.dtype)
        context = self._context_from(batch)
        preds = []
        with torch.no_grad():
            for j in range(x.size(0)):
                pred, context = self._step(x[j:j + 1], context)
                preds.append(pred)
        return {"y": torch.cat(preds).cpu().numpy(), "h": context.cpu().numpy()}

    def _context_from(self, batch: Batch) -> torch.Tensor:
        if "h0" not in batch:
            return self._zero_context(requires_grad=False)
        return torch.as_tensor(np.asarray(batch["h0"]), device=self.device, dtype=self.w1.dtype)

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """Summed step loss over ``batch`` with the article's per-step context cut."""
        x = torch.as_tensor(np.asarray(batch["x"]), device=self.device, dtype=self.w1.dtype)
        y = torch.as_tensor(np.asarray(batch["y"]), device=self.device, dtype=self.w1.dtype)
        w1, w2 = self.w1.detach().requires_grad_(True), self.w2.detach().requires_grad_(True)
        context, total = self._context_from(batch), 0.0
        for j in range(x.size(0)):
            xh = torch.cat((x[j:j + 1], context), 1)
            context = torch.tanh(xh.mm(w1))
            loss = (context.mm(w2) - y[j:j + 1]).pow(2).sum() / 2
            loss.backward()
            total += loss.item()
            context = self._cut(context)
        grads = spec.split_w1(filled_grad(w1).cpu().numpy())
        return total, {**grads, "W_hq": filled_grad(w2).cpu().numpy()}

    def get_params(self) -> Params:
        w1 = self.w1.detach().cpu().numpy().copy()
        return {**spec.split_w1(w1), "W_hq": self.w2.detach().cpu().numpy().copy()}

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        with torch.no_grad():
            self.w1.copy_(torch.from_numpy(spec.join_w1(dict(params))))
            self.w2.copy_(torch.from_numpy(np.asarray(params["W_hq"])))

    # -- optional hooks of the invariant checks (harness/invariants_checks.py) ----------
    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        for name in ("w1", "w2"):
            setattr(self, name, getattr(self, name).detach().double().requires_grad_(True))

    def truncation_grads(self, first: Batch, second: Batch, cut: bool = True
                         ) -> dict[str, np.ndarray]:
        """d (summed loss on ``second``) / d (``first``'s h0), with the port's per-step cut
        (``cut``) or with none at all."""
        h0 = self._context_from(first).detach().requires_grad_(True)
        context, total = h0, torch.zeros((), dtype=self.w1.dtype, device=self.device)
        for batch, scored in ((first, False), (second, True)):
            x, y = (torch.as_tensor(np.asarray(batch[k]), device=self.device,
                                    dtype=self.w1.dtype) for k in ("x", "y"))
            for j in range(x.size(0)):
                pred, context = self._step(x[j:j + 1], context)
                if scored:
                    total = total + (pred - y[j:j + 1]).pow(2).sum() / 2
                context = self._cut(context) if cut else context
        grad, = torch.autograd.grad(total, h0, allow_unused=True)
        return {"h0": np.zeros(h0.shape) if grad is None else grad.cpu().numpy()}
