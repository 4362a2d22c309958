"""``TorchAdapter``: the adapter members an ordinary ``torch.nn.Module`` and its optimizer
already determine (parameters, gradients, clipping, the SGD step or the optimizer's step and
its checkpoint state, detaching a carried state), so a torch port writes only its model's
own calls.

The contract between a spec's ``Schedule`` and an adapter (``harness.interface.Adapter``):

- **Required** of every adapter: ``port_id``, ``framework``, ``backend``, ``build(config,
  seed, device, data)`` (draws the weights from ``seed`` in the original's order; ``data``
  is ``Loop.data``), ``zero_state(batch_size)``, ``forward_loss(batch, state) -> (loss,
  state)`` under autograd, ``backward(loss)``, ``update()``, ``cut(state)``,
  ``loss_value(loss) -> float``, ``forward(batch)`` and ``loss_and_grads(batch)`` on numpy
  inputs, ``tensors()`` (storage path -> live tensor, as the spec's ``ParamTable`` names
  them) and ``grads()`` (the same paths -> gradients; the training observer reads it on
  every run, although ``ADAPTER_MEMBERS`` does not list it).
- **Optional**, used where a schedule or check calls them:
  ``clip(theta) -> float`` (the pre-clip global norm), ``update(lr)`` (a schedule that owns
  the learning rate, e.g. annealing on validation loss, passes the current one to every
  step), ``train_mode(on)`` and ``evaluate(batch, state) -> (float, state)`` (validation
  passes: dropout off, no graph), ``optimizer_state()`` / ``load_optimizer_state(slots,
  scalars)`` (checkpoints: slots keyed by storage path, JSON scalars),
  ``state_from_numpy(parts)`` (restoring a ``Loop.carry``), ``to_float64`` (gradient checks).
- **The schedule's own calls**: ``loop.observer.gradients(ad)`` after ``backward``,
  ``.clipped(ad)`` after clipping, ``.step(ad, loss_value)`` after the update, and
  ``.epoch()`` merged into each ``EpochRecord`` (the observables every golden records).
- **What a checkpoint holds**, so the schedule need not: the parameters, the optimizer state
  above, ``Loop.epoch``/``rng``/``carry``/``extra`` (JSON values or numpy arrays, e.g. the
  current lr and the best weights so far) and every global generator (Python, numpy, torch
  CPU and CUDA: ``SpecPort.checkpoint``). A generator the port makes itself (a private
  ``torch.Generator``) is in no checkpoint: draw from the global one, or the restore is not
  exact and ``record`` refuses the golden. A ``torch.optim.lr_scheduler`` is not captured
  either: keep the learning rate in the schedule and pass it to ``update(lr)``.

A subclass sets ``port_id``, writes ``build`` (setting ``module``, ``device`` and, unless the
step is plain SGD by hand, ``optimizer``), ``zero_state``, ``forward_loss`` and ``forward``,
and ``batch_state`` where ``loss_and_grads`` is used; ``table`` is the spec's parameter
table. Supported optimizers: none (``update(lr)``: ``p -= lr * grad``), ``torch.optim.SGD``
(momentum buffers included) and ``Adam``/``AdamW`` without amsgrad.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from harness.backends import torch_backend as tb
from harness.errors import UsageError

if TYPE_CHECKING:  # annotations only: a backend does not load the interface layer
    from harness.interface import Batch, Params, ParamTable

Slots = dict[str, dict[str, torch.Tensor]]


class TorchAdapter:
    """An adapter base for a ``torch.nn.Module`` trained by a spec's ``Schedule``."""

    port_id: str
    framework = "torch"
    backend = tb
    #: the spec's parameter table (canonical names <-> ``module.named_parameters()`` paths)
    table: ParamTable
    module: torch.nn.Module
    device: torch.device
    #: ``None``: the port steps by hand, ``p -= lr * p.grad`` (``update(lr)``)
    optimizer: torch.optim.Optimizer | None = None
    #: plain SGD's learning rate when ``update()`` is called without one
    lr: float | None = None

    # -- written by the subclass -----------------------------------------------------------
    def build(self, config: Any, seed: int, device: str, data: Mapping[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define build()")

    def zero_state(self, batch_size: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define zero_state()")

    def forward_loss(self, batch: Batch, state: Any) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError(f"{type(self).__name__} must define forward_loss()")

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def batch_state(self, batch: Batch) -> Any:
        """The state ``loss_and_grads`` starts ``batch`` from (e.g. zeros of its width)."""
        raise NotImplementedError(f"{type(self).__name__} must define batch_state() for "
                                  "loss_and_grads()")

    # -- derived from the module and its optimizer -----------------------------------------
    def ids(self, array: Any) -> torch.Tensor:
        """Integer ids (token indices) as an int64 tensor on the port's device."""
        return torch.as_tensor(np.asarray(array, dtype=np.int64), device=self.device)

    def tensors(self) -> dict[str, torch.Tensor]:
        # named_parameters() lists a shared (tied) parameter once, under its first path
        return dict(self.module.named_parameters())

    def grads(self) -> dict[str, torch.Tensor]:
        return {path: tb.filled_grad(p) for path, p in self.tensors().items()}

    def backward(self, loss: torch.Tensor) -> None:
        self.module.zero_grad()
        loss.backward()

    def clip(self, theta: float) -> float:
        """``clip_grad_norm_`` over every parameter; returns the norm before clipping."""
        return float(torch.nn.utils.clip_grad_norm_(self.module.parameters(), theta))

    def update(self, lr: float | None = None) -> None:
        """One step: the optimizer's (at ``lr`` when given), else ``p -= lr * p.grad``."""
        if self.optimizer is not None:
            if lr is not None:
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
            self.optimizer.step()
            return
        rate = lr if lr is not None else self.lr
        if rate is None:
            raise UsageError(f"{self.port_id} steps by hand and got no learning rate.",
                             context={"port": self.port_id},
                             fix="pass it (ad.update(lr)) or set the adapter's lr in build().",
                             port=self.port_id)
        with torch.no_grad():
            for p in self.module.parameters():
                p.add_(tb.filled_grad(p), alpha=-rate)

    @classmethod
    def cut(cls, state: Any) -> Any:
        """The same values with the graph cut, for a tensor or a tuple/list of them."""
        if isinstance(state, torch.Tensor):
            return state.detach()
        if isinstance(state, (tuple, list)):
            return type(state)(cls.cut(s) for s in state)
        return state

    @staticmethod
    def loss_value(loss: torch.Tensor) -> float:
        return loss.item()

    def train_mode(self, on: bool) -> None:
        """``module.train()`` (dropout on) or ``module.eval()``."""
        self.module.train(on)

    def evaluate(self, batch: Batch, state: Any) -> tuple[float, Any]:
        """A validation step: the loss as a float and the new state, without a graph."""
        with torch.no_grad():
            loss, state = self.forward_loss(batch, state)
        return loss.item(), state

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """The loss on ``batch`` from ``batch_state`` and its gradients by canonical name;
        ``.grad`` is left untouched."""
        loss, _ = self.forward_loss(batch, self.batch_state(batch))
        named = self.tensors()
        grads = torch.autograd.grad(loss, list(named.values()), allow_unused=True)
        filled = {path: torch.zeros_like(p) if g is None else g
                  for (path, p), g in zip(named.items(), grads, strict=True)}
        return loss.item(), self.table.read(self.framework, filled, tb)

    def state_from_numpy(self, parts: list[np.ndarray]) -> tuple[torch.Tensor, ...]:
        return tuple(tb.tensor(p, self.device) for p in parts)

    def to_float64(self) -> None:
        self.module.double()

    # -- checkpoint members (SpecPort.checkpoint / restore) --------------------------------
    def optimizer_state(self) -> tuple[Slots, dict[str, Any]]:
        """The optimizer's state by slot and storage path, and its JSON scalars (each
        group's lr included, so a restored optimizer steps as the uninterrupted one)."""
        opt = self.optimizer
        if opt is None:
            return {}, {}
        kind = self._optimizer_kind()
        lrs = {"group_lr": [float(g["lr"]) for g in opt.param_groups]}
        if kind == "adam":
            slots, scalars = tb.adam_state(cast(torch.optim.Adam, opt), self.tensors(),
                                           self.port_id)
            return slots, {**scalars, **lrs}
        started = {path: opt.state.get(p, {}).get("momentum_buffer") is not None
                   for path, p in self.tensors().items()}
        if not any(g["momentum"] for g in opt.param_groups):
            return {}, lrs
        buffers = {path: opt.state[p]["momentum_buffer"] if started[path] else
                   torch.zeros_like(p) for path, p in self.tensors().items()}
        return {"momentum_buffer": buffers}, {**lrs, "started": started}

    def load_optimizer_state(self, slots: Mapping[str, Mapping[str, np.ndarray]],
                             scalars: Mapping[str, Any]) -> None:
        opt = self.optimizer
        if opt is None:
            return
        kind = self._optimizer_kind()
        for group, lr in zip(opt.param_groups, scalars.get("group_lr", []), strict=False):
            group["lr"] = lr
        if kind == "adam":
            tb.load_adam_state(cast(torch.optim.Adam, opt), self.tensors(), slots,
                               int(scalars["step"]))
            return
        opt.state.clear()  # SGD before its first momentum step holds no buffer
        for path, p in self.tensors().items():
            if scalars.get("started", {}).get(path):
                buffer = np.asarray(slots["momentum_buffer"][path])
                opt.state[p] = {"momentum_buffer": tb.tensor(buffer, p.device, p.dtype)}

    def _optimizer_kind(self) -> str:
        opt = self.optimizer
        if isinstance(opt, torch.optim.Adam) and not any(g["amsgrad"] for g in opt.param_groups):
            return "adam"
        if isinstance(opt, torch.optim.SGD):
            return "sgd"
        raise UsageError(
            f"{self.port_id}: TorchAdapter cannot checkpoint a {type(opt).__name__}.",
            context={"optimizer": type(opt).__name__, "port": self.port_id},
            fix="use SGD, Adam or AdamW (amsgrad off), or override optimizer_state() and "
            "load_optimizer_state() to return and load every slot of its state.",
            port=self.port_id)
