"""A numpy port with a controlled seed-to-seed spread, and its changed variants.

The loss decays as ``a * exp(-rate * epoch) * (1 + 0.01 z)`` where the amplitude ``a`` and
the per-epoch ``z`` are drawn from the seed (a ~5 % spread between seeds). The spec's
single-seed tolerance is tight (rtol 1e-6) and stops gating at epoch 8 (``horizon``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.interface import EpochRecord, Tolerance, TutorialSpec
from harness.registry import PortEntry, Registry


@dataclass(frozen=True)
class NoisyConfig:
    epochs: int = 10
    rate: float = 0.3


class NoisyPort:
    port_id = "noisy/numpy"

    def build(self, config: NoisyConfig, seed: int, device: str) -> None:
        rng = np.random.default_rng(seed)
        self.config, self.amplitude = config, 1.0 + 0.05 * rng.normal()
        self.z = rng.normal(size=config.epochs)

    def losses(self) -> np.ndarray:
        epochs = np.arange(self.config.epochs)
        return self.amplitude * np.exp(-self.config.rate * epochs) * (1 + 0.01 * self.z)

    def train(self) -> Iterator[EpochRecord]:
        for loss in self.losses():
            yield EpochRecord(metrics={"loss": float(loss)}, items=1)

    def outputs(self) -> dict[str, Any]:
        return {}

    def forward(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {}

    def loss_and_grads(self, batch: Mapping[str, np.ndarray]) -> tuple[float, dict]:
        return 0.0, {}

    def get_params(self) -> dict[str, np.ndarray]:
        return {"a": np.array([self.amplitude])}

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        self.amplitude = float(params["a"][0])


class JitterPort(NoisyPort):
    """Rounding-sized noise (1e-4 relative), as another CPU or library version gives."""

    def losses(self) -> np.ndarray:
        return super().losses() * (1 + 1e-4 * (-1.0) ** np.arange(self.config.epochs))


class SlowerPort(NoisyPort):
    """A real regression: the loss decays 30 % more slowly (identical at epoch 0)."""

    def losses(self) -> np.ndarray:
        epochs = np.arange(self.config.epochs)
        return self.amplitude * np.exp(-0.7 * self.config.rate * epochs) * (1 + 0.01 * self.z)


class ShiftedPort(NoisyPort):
    """Every seed's loss 10 % higher: two seed spreads (5 %) in the outcomes, yet the golden
    seed's run (amplitude 1.006) stays inside the band (mean + 3 std is about 1.15)."""

    def losses(self) -> np.ndarray:
        return super().losses() * 1.1


class LateBlowUpPort(NoisyPort):
    """Identical to NoisyPort, except the loss triples from epoch 8 on (past the horizon)."""

    def losses(self) -> np.ndarray:
        losses = super().losses()
        losses[8:] *= 3.0
        return losses


PROFILES = {"ci": NoisyConfig()}
SPEC = TutorialSpec(name="noisy", source="tests/harness/sweep/noisy.py", profiles=PROFILES,
                    metrics=("loss",), default_seed=0,
                    tolerances={"default": Tolerance(rtol=1e-6, horizon=8)})


def registry_of(cls: str = "NoisyPort", *variants: str) -> Registry:
    """The noisy port as ``cls``, and one more port ``noisy/numpy-<variant>`` (NoisyPort)
    per variant."""
    extra = [PortEntry("noisy", "numpy", v, "tests.harness.sweep.noisy:NoisyPort")
             for v in variants]
    return Registry([PortEntry("noisy", "numpy", "", f"tests.harness.sweep.noisy:{cls}"),
                     *extra], {"noisy": "tests.harness.sweep.noisy:SPEC"})
