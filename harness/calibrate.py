"""Measure what a golden tolerance must absorb (rounding noise) and must catch (a 1 % lr change).

Cross-CPU differences come from BLAS kernels rounding differently; their effect on a
trajectory is modelled by perturbing every initial weight by one ulp, which seeds the same
kind of last-bit difference and lets training amplify it. The signal is the same run with
the learning rate scaled by ``1 + lr_change``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from harness.compare import relative_error
from harness.interface import Params, Trajectory, TutorialSpec
from harness.registry import Registry, default_registry
from harness.runner import ProgressFn, run_port


@dataclass(frozen=True)
class Calibration:
    """Per metric: the largest relative difference caused by noise and by the lr change."""

    port_id: str
    profile: str
    noise: dict[str, float]
    signal: dict[str, float]
    noise_curve: dict[str, np.ndarray]
    signal_curve: dict[str, np.ndarray]

    def verdicts(self, spec: TutorialSpec) -> list[MetricVerdict]:
        """Per metric of ``spec``: whether its rtol lies between noise and signal."""
        return [MetricVerdict(m, self.noise[m], self.signal[m], spec.tolerance(m).rtol)
                for m in spec.metrics]


@dataclass(frozen=True)
class MetricVerdict:
    """A tolerance separates when it absorbs the noise and catches the signal."""

    metric: str
    noise: float
    signal: float
    rtol: float

    @property
    def separates(self) -> bool:
        return self.noise < self.rtol < self.signal


def nudge(params: Params, ulps: int = 1) -> Params:
    """Every parameter moved ``ulps`` ulps toward +inf (in its own dtype)."""
    out = {}
    for name, value in params.items():
        v = np.asarray(value)
        for _ in range(ulps):
            v = np.nextafter(v, np.inf, dtype=v.dtype)
        out[name] = v
    return out


def _seeded_params(port_id: str, profile: str, registry: Registry) -> Params:
    entry = registry.get(port_id)
    spec = registry.spec(entry.tutorial)
    port = registry.load(port_id)
    port.build(spec.profile(profile), spec.default_seed, "cpu")
    return port.get_params()


def _rel(a: Trajectory, b: Trajectory, metrics: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {m: relative_error(a.metrics[m], b.metrics[m]) for m in metrics}


def calibrate(port_id: str, profile: str, *, lr_change: float = 0.01,
              registry: Registry | None = None, progress: ProgressFn | None = None
              ) -> Calibration:
    """Run the baseline, the 1-ulp-nudged and the lr-scaled run of ``port_id``."""
    registry = registry or default_registry()
    spec = registry.spec(registry.get(port_id).tutorial)
    config = spec.profile(profile)
    base = run_port(port_id, profile, registry=registry, progress=progress)
    nudged = run_port(port_id, profile, registry=registry, progress=progress,
                      params=nudge(_seeded_params(port_id, profile, registry)))
    faster = run_port(port_id, profile, registry=registry, progress=progress,
                      config=dataclasses.replace(config, lr=config.lr * (1 + lr_change)))
    noise, signal = _rel(nudged, base, spec.metrics), _rel(faster, base, spec.metrics)
    return Calibration(port_id, profile,
                       {m: float(v.max()) for m, v in noise.items()},
                       {m: float(v.max()) for m, v in signal.items()}, noise, signal)
