"""What a run produces: per-epoch records, the Trajectory, and config hashing."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EpochRecord:
    """What a port yields once per epoch (or per logged step) of training.

    ``metrics`` holds the figures the tutorial itself reports (e.g. the summed epoch
    loss, or perplexity); ``items`` counts what was processed (samples, tokens) so the
    runner can compute throughput.
    """

    metrics: Mapping[str, float]
    items: int


def config_dict(config: Any) -> dict[str, Any]:
    """A frozen config dataclass as a plain JSON-ready dict."""
    return dataclasses.asdict(config)


def config_hash(config: Any) -> str:
    """Stable short hash of a config: it changes whenever any field changes."""
    text = json.dumps(config_dict(config), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Trajectory:
    """One training run: per-epoch metrics and timing, final outputs and metadata.

    ``metrics`` and ``timing`` map a column name to a float64 array of one value per
    epoch; ``epochs`` counts from 0.
    """

    port_id: str
    profile: str
    metrics: dict[str, np.ndarray]
    timing: dict[str, np.ndarray] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def tutorial(self) -> str:
        return self.port_id.split("/", 1)[0]

    @property
    def num_epochs(self) -> int:
        return len(next(iter(self.metrics.values()))) if self.metrics else 0

    def head(self, n: int) -> Trajectory:
        """The first ``n`` epochs (a ``ci`` profile is a prefix of the ``tutorial`` run)."""
        return dataclasses.replace(
            self,
            metrics={k: v[:n] for k, v in self.metrics.items()},
            timing={k: v[:n] for k, v in self.timing.items()},
        )
