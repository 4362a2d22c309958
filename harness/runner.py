"""The runner: seed, build and train one port for one profile, and return its Trajectory."""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from harness.backends import parse_device
from harness.errors import DivergenceError, HarnessError, PortCrashError
from harness.interface import Port, Trajectory, config_dict, config_hash
from harness.registry import Registry, default_registry
from harness.seeding import environment_info, prepare_determinism, seed_everything, use_threads

__all__ = ["ProgressFn", "Started", "parse_device", "run_metadata", "run_port", "start_port",
           "train_started"]

#: Called after every epoch with (epochs done, epochs in all, that epoch's metrics).
ProgressFn = Callable[[int, int, Mapping[str, float]], None]


@dataclass(frozen=True)
class Started:
    """A port built and seeded for one run, before its first epoch."""

    port: Port
    port_id: str
    profile: str
    config: Any
    seed: int
    device: str
    transferred: bool


def start_port(
    port_id: str,
    profile: str,
    *,
    seed: int | None = None,
    device: str = "cpu",
    params: Mapping[str, np.ndarray] | None = None,
    config: Any = None,
    registry: Registry | None = None,
    threads: int | None = None,
) -> Started:
    """Seed and build ``port_id`` (the first half of ``run_port``): its ``get_params()`` are
    then the initial weights the run trains from. ``threads`` (e.g. the count its golden
    records) sets this process's thread policy first (``harness.seeding.use_threads``;
    ``--threads`` still wins); None keeps the count in use."""
    registry = registry or default_registry()
    spec = registry.spec(registry.get(port_id).tutorial)
    config = config if config is not None else spec.profile(profile)
    seed = spec.default_seed if seed is None else seed
    parse_device(device)
    if threads is not None:
        use_threads(threads)
    prepare_determinism()
    port = registry.load(port_id)
    seed_everything(seed)
    port.build(config, seed, device)
    if params is not None:
        port.set_params(params)
    return Started(port, port_id, profile, config, seed, device, params is not None)


def train_started(started: Started, progress: ProgressFn | None = None) -> Trajectory:
    """Train a started port to the end and return its Trajectory."""
    port, port_id, profile = started.port, started.port_id, started.profile
    try:
        metrics, timing = _train(port, started.config, profile, progress)
    except HarnessError:
        raise
    except Exception as exc:  # the port's own bug: say where, keep the innermost frames
        raise PortCrashError(
            f"{port_id} raised {type(exc).__name__} during training: {exc}",
            context={"where": _innermost_frame(exc)},
            fix="this is a bug in the port (or the framework under it); rerun with "
            "`python -X dev -m harness ...` under a debugger, or compare with its golden.",
            tutorial=port_id.split("/")[0], port=port_id, profile=profile,
        ) from exc
    return Trajectory(
        port_id=port_id,
        profile=profile,
        metrics=metrics,
        timing=timing,
        outputs=port.outputs(),
        meta=run_metadata(port_id, profile, started.config, started.seed, started.device,
                          transferred=started.transferred),
    )


def run_port(
    port_id: str,
    profile: str,
    *,
    seed: int | None = None,
    device: str = "cpu",
    params: Mapping[str, np.ndarray] | None = None,
    config: Any = None,
    registry: Registry | None = None,
    progress: ProgressFn | None = None,
    threads: int | None = None,
) -> Trajectory:
    """Train ``port_id`` with ``profile``'s config (or an explicit ``config``).

    ``params`` (canonical names) replaces the seeded initial weights, e.g. another
    framework's, for a cross-framework comparison. ``seed`` defaults to the spec's;
    ``threads`` as in ``start_port``.
    """
    started = start_port(port_id, profile, seed=seed, device=device, params=params,
                         config=config, registry=registry, threads=threads)
    return train_started(started, progress)


def _innermost_frame(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    return f"{tb[-1].filename}:{tb[-1].lineno} in {tb[-1].name}" if tb else "?"


def _train(port: Port, config: Any, profile: str, progress: ProgressFn | None
           ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rows: list[Mapping[str, float]] = []
    wall, rate = [], []
    total = getattr(config, "epochs", 0)
    start = time.perf_counter()
    for record in port.train():
        now = time.perf_counter()
        wall.append(now - start)
        rate.append(record.items / max(now - start, 1e-12))
        start = now
        _check_finite(port.port_id, profile, len(rows), record.metrics)
        rows.append(record.metrics)
        if progress is not None:
            progress(len(rows), total, record.metrics)
    names = list(rows[0]) if rows else []
    metrics = {n: np.array([r[n] for r in rows], dtype=np.float64) for n in names}
    return metrics, {"wall_s": np.array(wall), "items_per_s": np.array(rate)}


def _check_finite(port_id: str, profile: str, epoch: int, metrics: Mapping[str, float]) -> None:
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    if bad:
        raise DivergenceError(
            f"Training diverged: {', '.join(f'{k}={v}' for k, v in bad.items())} at epoch {epoch}.",
            context={"epoch": epoch},
            fix="training was stopped there. If the port or config changed on purpose, "
            "lower the learning rate or check the update; otherwise this is a regression.",
            tutorial=port_id.split("/")[0], port=port_id, profile=profile,
        )


def run_metadata(port_id: str, profile: str, config: Any, seed: int, device: str,
                 *, transferred: bool = False) -> dict[str, Any]:
    """Everything needed to tell whether two runs are comparable."""
    return {
        "port": port_id,
        "profile": profile,
        "seed": seed,
        "device": device,
        "config": config_dict(config),
        "config_hash": config_hash(config),
        "initial_params": "transferred" if transferred else "seeded",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **environment_info(),
    }
