"""``SpecPort``: a tutorial's schedule and one framework's adapter, bound into a ``Port``."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from harness.errors import UsageError
from harness.interface._checkpoint import (
    Checkpoint,
    bytes_from_json,
    bytes_to_json,
    capture_rngs,
    restore_rngs,
    rng_from_json,
    rng_state_to_json,
)
from harness.interface._observe import Observer
from harness.interface._params import ParamTable
from harness.interface._port import Adapter, Batch, Params
from harness.interface._spec import Loop, TutorialSpec
from harness.interface._trajectory import EpochRecord


class SpecPort:
    """The ``Port`` the harness drives for an adapter: the loop is the spec's, the
    arithmetic the adapter's, parameters go through the spec's table.

    With ``observe`` (the default) the schedule also records the training observables
    (``harness.interface._observe``) beside the tutorial's figure.
    Optional adapter hooks (``to_float64``, ``truncation_grads``, ``clip_grads``...) are
    reachable as attributes, so the invariant checks see them as on any port.
    """

    def __init__(self, spec: TutorialSpec, adapter: Adapter, variant: str = "", *,
                 observe: bool = True):
        if spec.schedule is None:
            raise TypeError(f"tutorial {spec.name!r} has no schedule for adapter ports")
        self.spec = spec
        self.adapter = adapter
        self.port_id = adapter.port_id
        self.table: ParamTable = spec.param_table(variant)
        self.config: Any = None
        self.loop: Loop | None = None
        self.observe = observe

    def build(self, config: Any, seed: int, device: str) -> None:
        assert self.spec.schedule is not None
        self.config = config
        self.loop = self.spec.schedule.prepare(config, seed)
        if self.observe:
            self.loop.observer = Observer()
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

    # -- checkpoints ---------------------------------------------------------------------
    def checkpoint(self) -> Checkpoint:
        """The complete training state now, in canonical form (see ``Checkpoint``)."""
        loop, ad = self._loop(), self.adapter
        arrays = {f"param/{k}": v for k, v in self.get_params().items()}
        scalars: dict[str, Any] = {"epoch": loop.epoch, "rng": rng_state_to_json(loop.rng)}
        if hasattr(ad, "optimizer_state"):
            slots, opt_scalars = _optional(ad, "optimizer_state")()
            for slot, tensors in slots.items():
                canonical = self.table.read(ad.framework, tensors, ad.backend)
                arrays.update({f"opt/{slot}/{k}": v for k, v in canonical.items()})
            scalars["optimizer"] = opt_scalars
        carry = loop.carry
        if carry is not None:
            parts = list(carry) if isinstance(carry, (tuple, list)) else [carry]
            arrays.update({f"carry/{i}": ad.backend.to_numpy(p) for i, p in enumerate(parts)})
            scalars["carry"] = "sequence" if isinstance(carry, (tuple, list)) else "tensor"
        scalars["extra"], extra_arrays = _split_extra(loop.extra, self.port_id)
        arrays.update({f"extra/{k}": v for k, v in extra_arrays.items()})
        scalars["extra_arrays"] = {k: _array_json(v) for k, v in extra_arrays.items()
                                   if v.dtype != np.float32}
        arrays = {k: v for k, v in arrays.items()
                  if not (k.startswith("extra/") and k[6:] in scalars["extra_arrays"])}
        scalars["rngs"] = capture_rngs()
        return Checkpoint(loop.epoch, arrays, scalars)

    def restore(self, ckpt: Checkpoint) -> None:
        """Continue from ``ckpt``: call after ``build`` (same config and seed), before
        ``train`` (a port that trained before may be restored too: the whole training state
        is replaced); the next record ``train`` yields is epoch ``ckpt.epoch``."""
        loop, ad = self._loop(), self.adapter
        self.set_params(ckpt.group("param"))
        slots = ckpt.slots()
        if slots or "optimizer" in ckpt.scalars:
            live = {path: ad.backend.to_numpy(t) for path, t in ad.tensors().items()}
            stored = {slot: self.table.to_storage(ad.framework, values, live)
                      for slot, values in slots.items()}
            _optional(ad, "load_optimizer_state")(stored, ckpt.scalars.get("optimizer", {}))
        loop.epoch = ckpt.epoch
        loop.rng = rng_from_json(ckpt.scalars.get("rng"))
        carry = ckpt.group("carry")
        if carry:
            parts = [carry[str(i)] for i in range(len(carry))]
            state = _optional(ad, "state_from_numpy")(parts)
            loop.carry = state if ckpt.scalars.get("carry") == "sequence" else state[0]
        else:
            loop.carry = None
        # replaced, not merged: a reused port
        loop.extra = {**ckpt.scalars.get("extra", {}), **ckpt.group("extra"),
                      **{k: _array_from_json(v)
                         for k, v in ckpt.scalars.get("extra_arrays", {}).items()}}
        restore_rngs(ckpt.scalars.get("rngs"))

    def __getattr__(self, name: str) -> Any:
        # only reached for names SpecPort lacks: the adapter's optional hooks
        if name in ("adapter", "spec", "table"):
            raise AttributeError(name)
        return getattr(self.adapter, name)


def _split_extra(extra: Mapping[str, Any], port_id: str
                 ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``Loop.extra`` as (JSON values, numpy arrays); anything else cannot be checkpointed
    and is refused by name (never dropped: a restore would silently lose it)."""
    values, arrays = {}, {}
    for key, value in extra.items():
        if isinstance(value, np.ndarray):
            arrays[key] = value
        elif _is_json(value):
            values[key] = value
        else:
            raise UsageError(
                f"Loop.extra[{key!r}] of {port_id} is a {type(value).__name__}, which a "
                "checkpoint cannot hold.", context={"port": port_id, "key": key},
                fix="keep schedule state in Loop.extra as JSON values (numbers, strings, "
                "lists, dicts) or numpy arrays (e.g. best weights: adapter tensors through "
                "backend.to_numpy).", port=port_id)
    return values, arrays


def _array_json(value: np.ndarray) -> dict[str, Any]:
    """A non-float32 array as JSON (exact: its bytes, dtype and shape)."""
    arr = np.ascontiguousarray(value)
    return {"dtype": arr.dtype.str, "shape": list(arr.shape), "data": bytes_to_json(arr.tobytes())}


def _array_from_json(value: Mapping[str, Any]) -> np.ndarray:
    flat = np.frombuffer(bytes_from_json(value["data"]), np.dtype(value["dtype"]))
    return flat.reshape(value["shape"]).copy()


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _optional(ad: Adapter, name: str) -> Any:
    """An optional adapter member the checkpoint needs, or a TypeError naming it."""
    member = getattr(ad, name, None)
    if member is None:
        raise TypeError(f"{ad.port_id}: restoring this checkpoint needs the adapter member "
                        f"{name!r} (see harness.interface.Adapter)")
    return member

