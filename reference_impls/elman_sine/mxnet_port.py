"""elman_sine in MXNet: the article's math with ``mxnet.autograd`` and NDArrays.

With its own seed it draws w1 then w2 from MXNet's generator (so its golden differs
from the torch one); loaded with the torch port's weights it follows the torch
trajectory within ``spec.CROSS_FRAMEWORK``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, nd

from harness.interface import Batch, EpochRecord, Params
from reference_impls._frameworks import mxnet_context
from reference_impls.elman_sine import spec


class ElmanSineMXNet:
    port_id = "elman_sine/mxnet"

    def build(self, config: spec.Config, seed: int, device: str) -> None:
        self.config = config
        self.ctx = mxnet_context(device)
        data = spec.make_data(config)
        self.x = nd.array(data["x"], ctx=self.ctx)  # (T, 1) float32
        self.y = nd.array(data["y"], ctx=self.ctx)  # (T, 1) float32
        # Drawn on the CPU generator (w1, then w2) so every device starts alike.
        mx.random.seed(seed)
        shape1, shape2 = (config.input_size, config.hidden_size), (config.hidden_size, 1)
        self.w1 = nd.random.normal(0.0, config.w1_std, shape=shape1, ctx=mx.cpu())
        self.w2 = nd.random.normal(0.0, config.w2_std, shape=shape2, ctx=mx.cpu())
        self.w1, self.w2 = self.w1.as_in_context(self.ctx), self.w2.as_in_context(self.ctx)
        self.w1.attach_grad()
        self.w2.attach_grad()

    def _step(self, inp: Any, context: Any, w1: Any, w2: Any) -> tuple[Any, Any]:
        xh = nd.concat(inp, context, dim=1)  # (1, 1 + H)
        context = nd.tanh(nd.dot(xh, w1))  # (1, H)
        return nd.dot(context, w2), context  # (1, 1), (1, H)

    def _zero_context(self) -> Any:
        return nd.zeros((1, self.config.hidden_size), ctx=self.ctx, dtype=self.w1.dtype)

    @staticmethod
    def _cut(context: Any) -> Any:
        return context.detach()  # re-wrapped, as in the article: graph cut

    def train(self) -> Iterator[EpochRecord]:
        lr, steps = self.config.lr, self.x.shape[0]
        for _ in range(self.config.epochs):
            total_loss = nd.zeros((1,), ctx=self.ctx)  # float32 running sum, as printed
            context = self._zero_context()
            for j in range(steps):
                with autograd.record():
                    pred, context = self._step(self.x[j:j + 1], context, self.w1, self.w2)
                    loss = ((pred - self.y[j:j + 1]) ** 2).sum() / 2
                loss.backward()  # grad_req "write": the next backward overwrites (= zeroed)
                self.w1[:] = self.w1 - lr * self.w1.grad
                self.w2[:] = self.w2 - lr * self.w2.grad
                total_loss = total_loss + loss
                context = self._cut(context)  # re-wrapped, as in the article
            yield EpochRecord(metrics={"loss": float(total_loss.asscalar())}, items=steps)

    def outputs(self) -> dict[str, Any]:
        """The article's prediction pass: one step per point from a zero context."""
        return {"predictions": self.forward({"x": self.x.asnumpy()})["y"][:, 0].tolist()}

    def _context_from(self, batch: Batch) -> Any:
        if "h0" not in batch:
            return self._zero_context()
        return nd.array(np.asarray(batch["h0"]), ctx=self.ctx, dtype=self.w1.dtype)

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        x = nd.array(np.asarray(batch["x"]), ctx=self.ctx, dtype=self.w1.dtype)
        context, preds = self._context_from(batch), []
        for j in range(x.shape[0]):
            pred, context = self._step(x[j:j + 1], context, self.w1, self.w2)
            preds.append(pred)
        return {"y": nd.concat(*preds, dim=0).asnumpy(), "h": context.asnumpy()}

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """Summed step loss over ``batch`` with the article's per-step context cut."""
        x = nd.array(np.asarray(batch["x"]), ctx=self.ctx, dtype=self.w1.dtype)
        y = nd.array(np.asarray(batch["y"]), ctx=self.ctx, dtype=self.w1.dtype)
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
            context = self._cut(context)
        return total, {**spec.split_w1(w1.grad.asnumpy()), "W_hq": w2.grad.asnumpy()}

    def get_params(self) -> Params:
        return {**spec.split_w1(self.w1.asnumpy()), "W_hq": self.w2.asnumpy()}

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        dtype = self.w1.dtype  # nd.array would round a numpy source to float32
        self.w1[:] = nd.array(spec.join_w1(dict(params)), ctx=self.ctx, dtype=dtype)
        self.w2[:] = nd.array(np.asarray(params["W_hq"]), ctx=self.ctx, dtype=dtype)

    # -- optional hooks of the invariant checks (harness/invariants_checks.py) ----------
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
                x, y = (nd.array(np.asarray(batch[k]), ctx=self.ctx, dtype=self.w1.dtype)
                        for k in ("x", "y"))
                for j in range(x.shape[0]):
                    pred, context = self._step(x[j:j + 1], context, self.w1, self.w2)
                    if scored:
                        total = total + ((pred - y[j:j + 1]) ** 2).sum() / 2
                    context = self._cut(context) if cut else context
        total.backward()
        return {"h0": h0.grad.asnumpy()}
