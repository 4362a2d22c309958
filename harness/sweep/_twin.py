"""Seed-batched twins: a faster trainer of many seeds beside a port, used by the envelope
sweeps only where its first seed equals the port's own run bit for bit in the same run."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.compare import first_bit_difference
from harness.interface import Trajectory
from harness.registry import Registry
from harness.seeding import prepare_determinism

#: (config, seeds, device) -> per seed, {metric: one float per epoch}.
SeedBatchedFn = Callable[[Any, Sequence[int], str], list[dict[str, np.ndarray]]]


def find_seed_batched(registry: Registry, port_id: str) -> SeedBatchedFn | None:
    """A seed-batched trainer for ``port_id``, if its package has one: the module
    ``<package>.<framework>_batched_port`` beside the port, with ``SEED_BATCHED[port_id]``."""
    entry = registry.get(port_id)
    package = entry.target.partition(":")[0].rpartition(".")[0]
    name = f"{package}.{entry.framework}_batched_port"
    try:
        if not package or importlib.util.find_spec(name) is None:
            return None
    except ModuleNotFoundError:
        return None
    table = getattr(importlib.import_module(name), "SEED_BATCHED", {})
    fn: SeedBatchedFn | None = table.get(port_id)
    return fn


@dataclass(frozen=True)
class TwinProof:
    """A seed-batched twin's run of the first seed against the port's own run of it in the
    same record or check: the twin's seeds stand in for the port's only where the two are
    equal bit for bit at every epoch of every gated metric (``differs`` is None)."""

    twin: str
    seed: int
    differs: str | None = None

    @property
    def proven(self) -> bool:
        return self.differs is None

    def describe(self) -> str:
        if self.proven:
            return (f"seed-batched twin {self.twin}: seed {self.seed} equal to the port's run "
                    "bit for bit at every epoch")
        return (f"seed-batched twin {self.twin} not used: {self.differs}; every seed was "
                "trained by the port itself (the port changed, or the twin rounds "
                "differently on this machine)")


def prove_twin(twin: SeedBatchedFn, twin_run: Mapping[str, Any], port_run: Trajectory,
               metrics: Sequence[str], seed: int) -> TwinProof:
    """Whether ``twin_run`` (the twin's seed ``seed``) equals the port's run of that seed
    bit for bit, every epoch of every metric in ``metrics``; where not, the first
    difference."""
    name = twin.__module__
    for metric in metrics:
        mine = np.asarray(port_run.metrics[metric], dtype=np.float64)
        if metric not in twin_run:
            return TwinProof(name, seed, f"it does not train {metric!r}")
        theirs = np.asarray(twin_run[metric], dtype=np.float64)
        if theirs.shape != mine.shape:
            return TwinProof(name, seed, f"its seed {seed} has {theirs.size} epochs of "
                             f"{metric}, the port's {mine.size}")
        e = first_bit_difference(theirs, mine)
        if e is not None:
            return TwinProof(name, seed, f"its seed {seed} differs from the port's in "
                             f"{metric} from epoch {e} (port {float(mine[e])!r}, twin "
                             f"{float(theirs[e])!r})")
    return TwinProof(name, seed)


def twin_runs(twin: SeedBatchedFn, config: Any, seeds: Sequence[int], device: str,
              port_run: Trajectory, metrics: Sequence[str]
              ) -> tuple[list[dict[str, np.ndarray]] | None, TwinProof]:
    """The twin's runs of ``seeds`` and its proof against ``port_run`` (the port's run of
    ``seeds[0]``); the runs are None unless proven. A twin that raises is not proven."""
    prepare_determinism()
    try:
        runs = twin(config, seeds, device)
    except Exception as exc:  # any failure of the twin only loses the speed-up
        return None, TwinProof(twin.__module__, seeds[0],
                               f"it raised {type(exc).__name__}: {exc}")
    proof = prove_twin(twin, runs[0], port_run, metrics, seeds[0])
    return (runs if proof.proven else None), proof
