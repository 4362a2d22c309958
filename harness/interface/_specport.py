"""``SpecPort``: a tutorial's schedule and one framework's adapter, bound into a ``Port``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from harness.interface._params import ParamTable
from harness.interface._port import Adapter, Batch, Params
from harness.interface._spec import Loop, TutorialSpec
from harness.interface._trajectory import EpochRecord


class SpecPort:
    """The ``Port`` the harness drives for an adapter: the loop is the spec's, the
    arithmetic the adapter's, parameters go through the spec's table.

    Optional adapter hooks (``to_float64``, ``truncation_grads``, ``clip_grads``...) are
    reachable as attributes, so the invariant checks see them as on any port.
    """

    def __init__(self, spec: TutorialSpec, adapter: Adapter, variant: str = ""):
        if spec.schedule is None:
            raise TypeError(f"tutorial {spec.name!r} has no schedule for adapter ports")
        self.spec = spec
        self.adapter = adapter
        self.port_id = adapter.port_id
        self.table: ParamTable = spec.param_table(variant)
        self.config: Any = None
        self.loop: Loop | None = None

    def build(self, config: Any, seed: int, device: str) -> None:
        assert self.spec.schedule is not None
        self.config = config
        self.loop = self.spec.schedule.prepare(config, seed)
        self.adapter.build(config, seed, device, self.loop.data)

    def _loop(self) -> Loop:
        if self.loop is None:
            raise RuntimeError(f"{self.port_id}: call build() before training")
        return self.loop

    def train(self) -> Iterator[EpochRecord]:
        assert self.spec.schedule is not None
        yield from self.spec.schedule.epochs(self.adapter, self.config, self._loop())

    def outputs(self) -> dict[str, Any]:
        assert self.spec.schedule is not None
        return self.spec.schedule.outputs(self.adapter, self.config, self._loop())

    def forward(self, batch: Batch) -> dict[str, np.ndarray]:
        return self.adapter.forward(batch)

    def loss_and_grads(self, batch: Batch) -> tuple[float, Params]:
        return self.adapter.loss_and_grads(batch)

    def get_params(self) -> Params:
        return self.table.read(self.adapter.framework, self.adapter.tensors(),
                               self.adapter.backend)

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        values = dict(params)
        if set(values) != set(self.table.names) and self.spec.adapt_params is not None:
            values = self.spec.adapt_params(values, self.table.names)
        self.table.load(self.adapter.framework, self.adapter.tensors(), self.adapter.backend,
                        values, port=self.port_id)

    def __getattr__(self, name: str) -> Any:
        # only reached for names SpecPort lacks: the adapter's optional hooks
        if name in ("adapter", "spec", "table"):
            raise AttributeError(name)
        return getattr(self.adapter, name)
