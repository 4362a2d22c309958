"""The common interface: the ``Port`` protocol and the plain dataclasses that cross it.

Only numpy arrays and plain Python values cross this boundary, so a port written in any
framework can be trained, compared and fed another port's weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from harness.errors import UnknownProfileError

Params = dict[str, np.ndarray]
Batch = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class EpochRecord:
    """What a port yields once per epoch (or per logged step) of training.

    ``metrics`` holds the figures the tutorial itself reports (e.g. the summed epoch
    loss, or perplexity); ``items`` counts what was processed (samples, tokens) so the
    runner can compute throughput.
    """

    metrics: Mapping[str, float]
    items: int


@runtime_checkable
class Port(Protocol):
    """One tutorial in one framework. Ports need no harness base class.

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


@dataclass(frozen=True)
class Tolerance:
    """``|a - b| <= atol + rtol * max(|a|, |b|)``: numpy's allclose made symmetric."""

    rtol: float
    atol: float = 0.0
    why: str = ""
    #: Epochs from ``horizon`` on are reported but not gated (chaotic divergence late in
    #: training, where cross-machine rounding noise outgrows any useful tolerance).
    horizon: int | None = None


@dataclass(frozen=True)
class TutorialSpec:
    """What both frameworks' ports of one tutorial share. Built once in each ``spec.py``.

    ``metrics`` are the columns compared against a golden; ``tolerances`` maps each to its
    cross-machine tolerance (``default`` applies to any metric not listed).
    """

    name: str
    source: str
    profiles: Mapping[str, Any]
    metrics: tuple[str, ...]
    tolerances: Mapping[str, Tolerance]
    default_seed: int
    cross_framework: Mapping[str, Tolerance] = field(default_factory=dict)
    describe: Callable[[Any], str] | None = None

    def profile(self, name: str) -> Any:
        try:
            return self.profiles[name]
        except KeyError:
            raise UnknownProfileError(
                f"Tutorial {self.name!r} has no profile {name!r}.",
                context={"known profiles": ", ".join(sorted(self.profiles))},
                fix=f"pass --profile with one of: {', '.join(sorted(self.profiles))}.",
                tutorial=self.name,
                profile=name,
            ) from None

    def tolerance(self, metric: str) -> Tolerance:
        return self.tolerances.get(metric) or self.tolerances["default"]


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
