"""The two shapes a model can take behind the harness.

``Port`` is the full protocol the runner, gate and invariant checks drive. ``Adapter`` is
what a framework port writes: the framework operations that its tutorial's framework-free
``Schedule`` calls in order. The registry wraps an adapter and its spec's schedule into a
``Port`` (``harness.interface.SpecPort``), so the training loop exists once per tutorial.
Only numpy arrays and plain Python values cross these boundaries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from harness.interface._trajectory import EpochRecord

Params = dict[str, np.ndarray]
Batch = Mapping[str, np.ndarray]


@runtime_checkable
class Port(Protocol):
    """One tutorial in one framework, as the harness drives it.

    Lifecycle: ``build`` (draws the initial weights from ``seed``), optionally
    ``set_params``, then ``train`` to exhaustion, then ``outputs``.
    """

    port_id: str

    def build(self, config: Any, seed: int, device: str) -> None:
        """Create data and parameters for ``config`` on ``device`` ("cpu", "cuda", "cuda:N")."""

    def train(self) -> Iterator[EpochRecord]:
        """Run the tutorial's training loop, yielding one record per epoch."""

    def outputs(self) -> dict[str, Any]:
        """What the tutorial shows after training (predictions, samples), JSON-serialisable."""

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        """Model outputs and final state for numpy inputs, without updating anything."""

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """The tutorial's loss on ``batch`` and its gradient for every canonical parameter."""

    def get_params(self) -> Params:
        """Current parameters as float arrays keyed by canonical name."""

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Load parameters keyed by canonical name (shapes must match)."""


PORT_MEMBERS = ("port_id", "build", "train", "outputs", "forward", "loss_and_grads",
                "get_params", "set_params")


class Backend(Protocol):
    """What ``SpecPort`` needs of a framework backend module (``harness.backends.*``)."""

    def to_numpy(self, tensor: Any) -> np.ndarray: ...

    def assign(self, tensor: Any, value: np.ndarray) -> None: ...


@runtime_checkable
class Adapter(Protocol):
    """One tutorial's model in one framework: the operations its schedule calls.

    ``State`` and ``Loss`` are the framework's own objects; the schedule only passes them
    back. ``tensors()`` maps each storage name of the spec's parameter table to the live
    framework tensor, so reading and loading canonical parameters is written once.
    Optional members the schedules and checks use where a tutorial needs them:
    ``clip(theta) -> float`` (the pre-clip global norm), ``predict_step``, ``to_float64``,
    ``truncation_grads``, ``clip_grads``, and ``as_tensors(array)``: the schedule's data
    converted to the framework's tensors once per run (a schedule that uses it slices the
    tensors, so ``forward_loss`` then receives tensors; without it, numpy slices).
    """

    port_id: str
    framework: str
    backend: Backend

    def build(self, config: Any, seed: int, device: str, data: Mapping[str, Any]) -> None:
        """Model and optimizer, drawn from ``seed`` in the tutorial's order."""

    def zero_state(self, batch_size: int) -> Any:
        """The tutorial's initial hidden state (zeros; ``None`` where the layer defaults)."""

    def forward_loss(self, batch: Batch, state: Any) -> tuple[Any, Any]:
        """Forward and the tutorial's loss under autograd: (loss, new state)."""

    def backward(self, loss: Any) -> None:
        """Gradients of ``loss`` into the parameters (previous gradients discarded)."""

    def update(self) -> None:
        """One optimizer step, as the tutorial takes it."""

    def cut(self, state: Any) -> Any:
        """The tutorial's truncation: the same values, the graph cut."""

    def loss_value(self, loss: Any) -> float:
        """The loss as the Python float the tutorial reads."""

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        """Model outputs and final state for numpy inputs, without updating anything."""

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        """The tutorial's loss on ``batch`` and its gradients, keyed by canonical name."""

    def tensors(self) -> Mapping[str, Any]:
        """Storage name (as in the spec's parameter table) -> live framework tensor."""


ADAPTER_MEMBERS = ("port_id", "framework", "backend", "build", "zero_state", "forward_loss",
                   "backward", "update", "cut", "loss_value", "forward", "loss_and_grads",
                   "tensors")
