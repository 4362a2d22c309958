"""elman_sine in MXNet: the article's arithmetic with ``mxnet.autograd`` and NDArrays.

An adapter: the loop is ``spec.Schedule``. With its own seed it draws w1 then w2 from
MXNet's generator (so its golden differs from the torch one); loaded with the torch port's
weights it follows the torch trajectory within ``spec.CROSS_FRAMEWORK``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, nd

from harness.backends import mxnet_backend as mb
from harness.interface import Batch, Params
from reference_impls.elman_sine import spec


class ElmanSineMXNet:
    port_id = "elman_sine/mxnet"
    framework = "mxnet"
    backend = mb

    def build(self, config: spec.Config, seed: int, device: str, data: Mapping[str, Any]
              ) -> None:
        self.config = config
        self.ctx = mb.context(device)
        # Drawn on the CPU generator (w1, then w2) so every device starts alike.
        mx.random.seed(seed)
        shape1, shape2 = (config.input_size, config.hidden_size), (config.hidden_size, 1)
        w1 = nd.random.normal(0.0, config.w1_std, shape=shape1, ctx=mx.cpu())
        w2 = nd.random.normal(0.0, config.w2_std, shape=shape2, ctx=mx.cpu())
        self.w1, self.w2 = w1.as_in_context(self.ctx), w2.as_in_context(self.ctx)
        self.w1.attach_grad()
        self.w2.attach_grad()

    def _a(self, array: Any) -> Any:
        return nd.array(np.asarray(array), ctx=self.ctx, dtype=self.w1.dtype)

    @staticmethod
    def _step(inp: Any, context: Any, w1: Any, w2: Any) -> tuple[Any, Any]:
        xh = nd.concat(inp, context, dim=1)  # (1, 1 + H)
        context = nd.tanh(nd.dot(xh, w1))  # (1, H)
        return nd.dot(context, w2), context  # (1, 1), (1, H)

    # -- the schedule's operations -----------------------------------------------------
    def zero_state(self, batch_size: int) -> Any:
        return nd.zeros((batch_size, self.config.hidden_size), ctx=self.ctx,
                        dtype=self.w1.dtype)

    def forward_loss(self, batch: Batch, state: Any) -> tuple[Any, Any]:
        x, y = self._a(batch["x"]), self._a(batch["y"])
        with autograd.record():
            pred, context = self._step(x, state, self.w1, self.w2)
            loss = ((pred - y) ** 2).sum() / 2
        return loss, context

    @staticmethod
    def backward(loss: Any) -> None:
        loss.backward()  # grad_req "write": the next backward overwrites (= zeroed)

    def update(self) -> None:
        lr = self.config.lr
        self.w1[:] = self.w1 - lr * self.w1.grad
        self.w2[:] = self.w2 - lr * self.w2.grad

    @staticmethod
    def cut(state: Any) -> Any:
        return state.detach()  # re-wrapped, as in the article: graph cut

    @staticmethod
    def loss_value(loss: Any) -> float:
        return float(loss.asscalar())

    def tensors(self) -> dict[str, Any]:
        return {"w1": self.w1, "w2": self.w2}

    def grads(self) -> dict[str, Any]:
        return {"w1": self.w1.grad, "w2": self.w2.grad}

    # -- numpy entry points ------------------------------------------------------------
    def _context_from(self, batch: Batch) -> Any:
        return self._a(batch["h0"]) if "h0" in batch else self.zero_state(1)

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        x, context, preds = self._a(batch["x"]), self._context_from(batch), []
        for j in range(x.shape[0]):
            pred, context = self._step(x[j:j + 1], context, self.w1, self.w2)
            preds.append(pred)
        return {"y": nd.concat(*preds, dim=0).asnumpy(), "h": context.asnumpy()}

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """Summed step loss over ``batch`` with the article's per-step context cut."""
        x, y = self._a(batch["x"]), self._a(batch["y"])
        w1, w2 = self.w1.copy(), self.w2.copy()
        w1.attach_grad(grad_req="add")
        w2.attach_grad(grad_req="add")
        context, total = self._context_from(batch), 0.0
        for j in range(x.shape[0]):
            with autograd.record():
                pred, context = self._step(x[j:j + 1], context, w1, w2)
                loss = ((pred - y[j:j + 1]) ** 2).sum() / 2
            loss.backward()
            total += float(loss.asscalar())
            context = self.cut(context)
        return total, {**spec.split_w1(w1.grad.asnumpy()), "W_hq": w2.grad.asnumpy()}

    # -- optional hooks of the invariant checks ----------------------------------------
    def to_float64(self) -> None:
        """Compute in float64 from now on (finite-difference gradient checks)."""
        self.w1, self.w2 = self.w1.astype("float64"), self.w2.astype("float64")
        self.w1.attach_grad()
        self.w2.attach_grad()

    def truncation_grads(self, first: Batch, second: Batch, cut: bool = True
                         ) -> dict[str, np.ndarray]:
        """d (summed loss on ``second``) / d (``first``'s h0), with the port's per-step cut
        (``cut``) or with none at all."""
        h0 = self._context_from(first).copy()
        h0.attach_grad()
        with autograd.record():
            context, total = h0, nd.zeros((1,), ctx=self.ctx, dtype=self.w1.dtype)
            for batch, scored in ((first, False), (second, True)):
                x, y = self._a(batch["x"]), self._a(batch["y"])
                for j in range(x.shape[0]):
                    pred, context = self._step(x[j:j + 1], context, self.w1, self.w2)
                    if scored:
                        total = total + ((pred - y[j:j + 1]) ** 2).sum() / 2
                    context = self.cut(context) if cut else context
        total.backward()
        return {"h0": h0.grad.asnumpy()}
