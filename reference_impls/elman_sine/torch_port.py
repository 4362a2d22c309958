"""elman_sine in PyTorch: the article's arithmetic with ``Variable`` replaced by tensors.

An adapter: the loop is ``spec.Schedule``. Bit-for-bit equal to the modernised original in
tests/oracles/elman_sine_original.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from harness.backends import torch_backend as tb
from harness.interface import Batch, Params
from reference_impls.elman_sine import spec


class ElmanSineTorch:
    port_id = "elman_sine/torch"
    framework = "torch"
    backend = tb

    def build(self, config: spec.Config, seed: int, device: str, data: Mapping[str, Any]
              ) -> None:
        self.config = config
        self.device = tb.device(device)
        # Drawn on the CPU generator in the article's order (w1, then w2) on every device.
        torch.manual_seed(seed)
        w1 = torch.empty(config.input_size, config.hidden_size).normal_(0.0, config.w1_std)
        w2 = torch.empty(config.hidden_size, config.output_size).normal_(0.0, config.w2_std)
        self.w1 = w1.to(self.device).requires_grad_(True)
        self.w2 = w2.to(self.device).requires_grad_(True)

    def _t(self, array: Any) -> torch.Tensor:
        if isinstance(array, torch.Tensor):  # already converted (``as_tensors``)
            return array
        return tb.tensor(array, self.device, self.w1.dtype)

    def as_tensors(self, array: np.ndarray) -> torch.Tensor:
        """The schedule's data as one tensor, converted once: its per-step slices are the
        article's ``x[j:(j + 1)]`` views (a conversion per step cost ~7 us of 170)."""
        return self._t(array)

    def _step(self, inp: torch.Tensor, context: torch.Tensor, w1: torch.Tensor,
              w2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xh = torch.cat((inp, context), 1)  # (1, 1 + H)
        context = torch.tanh(xh.mm(w1))  # (1, H)
        return context.mm(w2), context  # (1, 1), (1, H)

    # -- the schedule's operations -----------------------------------------------------
    def zero_state(self, batch_size: int) -> torch.Tensor:
        return torch.zeros((batch_size, self.config.hidden_size), device=self.device,
                           dtype=self.w1.dtype)

    def forward_loss(self, batch: Batch, state: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        pred, context = self._step(self._t(batch["x"]), state, self.w1, self.w2)
        return (pred - self._t(batch["y"])).pow(2).sum() / 2, context

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def update(self) -> None:
        lr, g1, g2 = self.config.lr, tb.filled_grad(self.w1), tb.filled_grad(self.w2)
        with tb.no_grad():
            self.w1.sub_(lr * g1)  # w1.data -= lr * w1.grad.data
            self.w2.sub_(lr * g2)
        g1.zero_()
        g2.zero_()

    @staticmethod
    def cut(state: torch.Tensor) -> torch.Tensor:
        return state.detach()  # Variable(context_state.data)

    @staticmethod
    def loss_value(loss: torch.Tensor) -> float:
        return loss.item()

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"w1": self.w1, "w2": self.w2}

    def grads(self) -> dict[str, torch.Tensor]:
        return {"w1": tb.filled_grad(self.w1), "w2": tb.filled_grad(self.w2)}

    # -- numpy entry points ------------------------------------------------------------
    def _context_from(self, batch: Batch) -> torch.Tensor:
        return self._t(batch["h0"]) if "h0" in batch else self.zero_state(1)

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        x, context, preds = self._t(batch["x"]), self._context_from(batch), []
        with torch.no_grad():
            for j in range(x.size(0)):
                pred, context = self._step(x[j:j + 1], context, self.w1, self.w2)
                preds.append(pred)
        return {"y": torch.cat(preds).cpu().numpy(), "h": context.cpu().numpy()}

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """Summed step loss over ``batch`` with the article's per-step context cut."""
        x, y = self._t(batch["x"]), self._t(batch["y"])
        w1, w2 = self.w1.detach().requires_grad_(True), self.w2.detach().requires_grad_(True)
        context, total = self._context_from(batch), 0.0
        for j in range(x.size(0)):
            pred, context = self._step(x[j:j + 1], context, w1, w2)
            loss = (pred - y[j:j + 1]).pow(2).sum() / 2
            loss.backward()
            total += loss.item()
            context = self.cut(context)
        grads = spec.split_w1(tb.to_numpy(tb.filled_grad(w1)))
        return total, {**grads, "W_hq": tb.to_numpy(tb.filled_grad(w2))}

    # -- optional hooks of the invariant checks ----------------------------------------
    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        self.w1 = self.w1.detach().double().requires_grad_(True)
        self.w2 = self.w2.detach().double().requires_grad_(True)

    def truncation_grads(self, first: Batch, second: Batch, cut: bool = True
                         ) -> dict[str, np.ndarray]:
        """d (summed loss on ``second``) / d (``first``'s h0), with the port's per-step cut
        (``cut``) or with none at all."""
        h0 = self._context_from(first).detach().requires_grad_(True)
        context, total = h0, torch.zeros((), dtype=self.w1.dtype, device=self.device)
        for batch, scored in ((first, False), (second, True)):
            x, y = self._t(batch["x"]), self._t(batch["y"])
            for j in range(x.size(0)):
                pred, context = self._step(x[j:j + 1], context, self.w1, self.w2)
                if scored:
                    total = total + (pred - y[j:j + 1]).pow(2).sum() / 2
                context = self.cut(context) if cut else context
        grad, = torch.autograd.grad(total, h0, allow_unused=True)
        return {"h0": np.zeros(h0.shape) if grad is None else grad.cpu().numpy()}
