"""A numpy-only FakePort and its spec, so harness modules are tested without a framework.

The fake is a one-weight-vector linear model trained by gradient descent on seeded data;
``diverge_at`` makes its loss NaN from that epoch on, ``lr`` scales the update.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from harness.errors import DeviceUnavailableError
from harness.interface import EpochRecord, Tolerance, TutorialSpec
from harness.registry import PortEntry, Registry


@dataclass(frozen=True)
class FakeConfig:
    epochs: int = 8
    lr: float = 0.1
    n: int = 16
    diverge_at: int | None = None


class FakePort:
    port_id = "fake/numpy"

    def build(self, config: FakeConfig, seed: int, device: str) -> None:
        if device != "cpu":
            raise DeviceUnavailableError(f"Device {device!r} is not available.", fix="use cpu.")
        self.config = config
        rng = np.random.default_rng(seed)
        self.x = rng.normal(size=(config.n, 3))
        self.y = self.x @ np.array([1.0, -2.0, 0.5])
        self.w = rng.normal(size=3)

    def train(self) -> Iterator[EpochRecord]:
        for epoch in range(self.config.epochs):
            loss, grads = self.loss_and_grads({"x": self.x, "y": self.y})
            self.w = self.w - self.config.lr * grads["w"]
            if self.config.diverge_at is not None and epoch >= self.config.diverge_at:
                loss = float("nan")
            yield EpochRecord(metrics={"loss": loss}, items=self.config.n)

    def outputs(self) -> dict[str, Any]:
        return {"w": self.w.tolist()}

    def forward(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"y": np.asarray(batch["x"]) @ self.w}

    def loss_and_grads(self, batch: Mapping[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
        x, y = np.asarray(batch["x"]), np.asarray(batch["y"])
        err = x @ self.w - y
        return float(np.mean(err**2) / 2), {"w": x.T @ err / len(y)}

    def get_params(self) -> dict[str, np.ndarray]:
        return {"w": self.w.copy()}

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        self.w = np.array(params["w"], dtype=np.float64)


PROFILES = {"tutorial": FakeConfig(epochs=8), "ci": FakeConfig(epochs=4),
            "diverges": FakeConfig(epochs=8, diverge_at=3)}
SPEC = TutorialSpec(name="fake", source="tests/fakes.py", profiles=PROFILES, metrics=("loss",),
                    tolerances={"default": Tolerance(rtol=1e-9)}, default_seed=3)


def fake_registry() -> Registry:
    return Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakePort")],
                    {"fake": "tests.fakes:SPEC"})


class DriftedFakePort(FakePort):
    """The fake with a 1 % larger learning rate: a regression the gate must catch."""

    def build(self, config: FakeConfig, seed: int, device: str) -> None:
        super().build(replace(config, lr=config.lr * 1.01), seed, device)


def drifted_registry() -> Registry:
    return Registry([PortEntry("fake", "numpy", "", "tests.fakes:DriftedFakePort")],
                    {"fake": "tests.fakes:SPEC"})


SPEC_LONGER_CI = replace(SPEC, profiles={**PROFILES, "ci": FakeConfig(epochs=5)})


def changed_config_registry() -> Registry:
    return Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakePort")],
                    {"fake": "tests.fakes:SPEC_LONGER_CI"})
