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
        """Per metric of ``spec``: whether the rtol it gives this profile lies between
        noise and signal."""
        return [MetricVerdict(m, self.noise[m], self.signal[m],
                              spec.tolerance(m, self.profile).rtol) for m in spec.metrics]


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


@dataclass(frozen=True)
class SegmentCalibration:
    """Per quantity, over every segment: the largest 1-ulp noise and, for the signal, the
    largest difference a +``lr_change`` learning rate makes (max over the segment's rows),
    both as (relative, absolute). ``caught`` counts the segments whose signal exceeds the
    spec's segment tolerance somewhere (what the gate needs), ``noisy`` those whose noise
    does."""

    port_id: str
    spacing: int
    length: int
    noise: dict[str, tuple[float, float]]
    signal: dict[str, tuple[float, float]]
    segments: int
    caught: int
    noisy: int


def _worst(obtained: dict[str, np.ndarray], expected: dict[str, np.ndarray],
           into: dict[str, tuple[float, float]], prefix: str) -> None:
    for name, b in expected.items():
        if name in ("epoch", "step"):
            continue
        a = obtained[name][:len(b)]
        rel = float(np.max(relative_error(a, b), initial=0.0))
        ab = float(np.max(np.abs(a - b), initial=0.0))
        old = into.get(prefix + name, (0.0, 0.0))
        into[prefix + name] = (max(old[0], rel), max(old[1], ab))


def calibrate_segments(port_id: str, *, spacing: int, length: int, lr_change: float = 0.001,
                       step_limit: int | None = None, registry: Registry | None = None
                       ) -> SegmentCalibration:
    """Record the tutorial run's segments in memory, then replay each exactly, with every
    restored weight nudged by 1 ulp, and with the learning rate scaled by ``1 + lr_change``."""
    from harness.segments import (
        first_divergence,
        record_segments,
        run_segments,
        segment_starts,
        with_lr,
    )

    registry = registry or default_registry()
    spec = registry.spec(registry.get(port_id).tutorial)
    config = spec.profile("tutorial")
    seed = spec.default_seed
    _, segments = record_segments(port_id, config, seed,
                                  segment_starts(config.epochs, spacing, length), length,
                                  registry=registry, step_limit=step_limit)
    noise: dict[str, tuple[float, float]] = {}
    signal: dict[str, tuple[float, float]] = {}
    caught = noisy = 0
    plan = spec.segments
    noisy_runs = run_segments(port_id, config, seed, segments, registry=registry,
                              params=nudge, step_limit=step_limit)
    signal_runs = run_segments(port_id, with_lr(config, 1 + lr_change), seed, segments,
                               registry=registry, step_limit=step_limit)
    for seg, (e1, s1), (e2, s2) in zip(segments, noisy_runs, signal_runs, strict=True):
        if step_limit is None:
            _worst(e1, seg.epochs, noise, "")
            _worst(e2, seg.epochs, signal, "")
        _worst(s1, seg.steps, noise, "step ")
        _worst(s2, seg.steps, signal, "step ")
        if plan is not None:
            quantities = ("loss", "grad_norm", "clipped", "param_norm", "update_norm")
            if first_divergence(s2, seg.steps, plan.step_tolerances, quantities,
                                steps=True) is not None:
                caught += 1
            if first_divergence(s1, seg.steps, plan.step_tolerances, quantities,
                                steps=True) is not None:
                noisy += 1
    return SegmentCalibration(port_id, spacing, length, noise, signal, len(segments),
                              caught, noisy)
