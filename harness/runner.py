"""The driver: seed, build, train and restore a port.

A whole run (``run_port``: one profile, returned as a ``Trajectory``) and a checkpoint
segment (``run_segments``: a fresh port restored from a stored ``Checkpoint``, trained for
a few epochs with every step's observables) are the same build and the same seeding with a
different start. ``record_segments`` keeps the checkpoints of a golden run and
``prove_restore`` shows a port's checkpoints restore exactly.

Checkpoint segments gate a whole tutorial run in short pieces that start exactly: started
from an exact state, chaotic divergence has no time to grow, so a tight tolerance gates
late epochs that a whole-run comparison cannot.
"""

from __future__ import annotations

import gc
import math
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from harness.backends import parse_device
from harness.compare import first_bit_difference
from harness.errors import DivergenceError, HarnessError, PortCrashError, UsageError
from harness.interface import (
    EpochRecord,
    Loop,
    Port,
    Segment,
    SpecPort,
    Trajectory,
    config_dict,
    config_hash,
)
from harness.interface._observe import Observer, StepLimitReached
from harness.registry import Registry, default_registry
from harness.seeding import environment_info, prepare_determinism, seed_everything, use_threads

Columns = dict[str, np.ndarray]

__all__ = ["ProgressFn", "Started", "build_port", "parse_device", "prove_restore",
           "record_segments", "run_metadata", "run_port", "run_segment", "run_segments",
           "segment_starts", "start_port", "train_started"]

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
    freeze_imported_objects()
    seed_everything(seed)
    port.build(config, seed, device)
    if params is not None:
        port.set_params(params)
    return Started(port, port_id, profile, config, seed, device, params is not None)


_FROZEN = False


def freeze_imported_objects() -> None:
    """Once per process, after the port's framework is imported and before anything is
    built: move every object alive then (mostly the frameworks' and numpy's import-time
    objects, 150-290 thousand) out of the cyclic garbage collector's reach
    (``gc.freeze``). Otherwise a process's first full collections traverse them all,
    50-290 ms in a fresh process (measured), and which run pays them, the observed one or
    the unobserved, the port or its original, depends on how many objects each happens to
    allocate. Frozen objects still die by reference counting; only cycles that are garbage
    already are never collected. No arithmetic changes. ``benchmarks/bench.py`` applies it
    to the original code too."""
    global _FROZEN
    if not _FROZEN:
        _FROZEN = True
        gc.freeze()


def train_started(started: Started, progress: ProgressFn | None = None) -> Trajectory:
    """Train a started port to the end and return its Trajectory."""
    port, port_id, profile = started.port, started.port_id, started.profile
    metrics, timing = _train(port, started.config, profile, progress)
    return Trajectory(
        port_id=port_id,
        profile=profile,
        metrics=metrics,
        timing=timing,
        outputs=port.outputs(),
        meta=run_metadata(port_id, profile, started.config, started.seed, started.device,
                          transferred=started.transferred),
    )


def _drive(port: Port, where: str, limit: int | None = None, profile: str | None = None
           ) -> Iterator[EpochRecord]:
    """``port.train()``'s records, at most ``limit``: the one training loop of whole runs
    and checkpoint segments. A numerical blow-up raised in the loop (an overflow, a
    floating-point error) is a ``DivergenceError`` (the numbers moved); any other
    exception of the port's own a ``PortCrashError`` naming where it was raised."""
    tutorial = port.port_id.split("/")[0]
    try:
        for i, record in enumerate(port.train()):
            yield record
            if limit is not None and i + 1 == limit:
                return
    except (HarnessError, StepLimitReached):
        raise
    except (OverflowError, FloatingPointError) as exc:
        raise DivergenceError(
            f"Training diverged {where}: {type(exc).__name__}: {exc}.",
            context={"where": _innermost_frame(exc)},
            fix="a value overflowed (a loss or an exp of it grew without bound): if the port "
            "or config changed on purpose, lower the learning rate or check the update; "
            "otherwise this is a regression.", tutorial=tutorial, port=port.port_id,
            profile=profile) from exc
    except Exception as exc:  # the port's own bug: say where, keep the innermost frames
        raise PortCrashError(
            f"{port.port_id} raised {type(exc).__name__} {where}: {exc}",
            context={"where": _innermost_frame(exc)},
            fix="this is a bug in the port (or the framework under it); rerun with "
            "`python -X dev -m harness ...` under a debugger, or compare with its golden.",
            tutorial=tutorial, port=port.port_id, profile=profile) from exc


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
    for record in _drive(port, "during training", profile=profile):
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


# -- checkpoint segments ------------------------------------------------------------------
def segment_starts(num_epochs: int, spacing: int, length: int) -> list[int]:
    """Checkpoint epochs ``spacing, 2*spacing, ...`` whose segment fits in the run."""
    if spacing < 1 or length < 1:
        raise UsageError("Segment spacing and length must be positive.",
                         context={"spacing": spacing, "length": length},
                         fix="set SEGMENTS in the tutorial's spec to positive integers.")
    return list(range(spacing, num_epochs - length + 1, spacing))


def build_port(port_id: str, config: Any, seed: int, *, device: str = "cpu",
               registry: Registry | None = None, keep_steps: bool = True,
               max_steps: int | None = None) -> SpecPort:
    """A seeded, built adapter port that records every step's observables."""
    registry = registry or default_registry()
    prepare_determinism()
    port = registry.load(port_id)
    if not isinstance(port, SpecPort):
        raise UsageError(f"{port_id} is not an adapter port, so it has no checkpoints.",
                         context={"port": port_id},
                         fix="write the port as an Adapter run by its spec's Schedule "
                         "(see harness.interface.Adapter).")
    seed_everything(seed)
    port.build(config, seed, device)
    assert port.loop is not None
    port.loop.observer = Observer(keep_steps=keep_steps, max_steps=max_steps)
    return port


def _columns(rows: Sequence[Mapping[str, float]]) -> Columns:
    names = list(rows[0]) if rows else []
    return {n: np.array([r[n] for r in rows], dtype=np.float64) for n in names}


def _train_epochs(port: SpecPort, epochs: int,
                  on_epoch: Callable[[int], None] | None = None) -> tuple[Columns, Columns]:
    """Train ``epochs`` epochs from the port's current state: (per epoch, per step)."""
    assert port.loop is not None
    observer = port.loop.observer
    assert isinstance(observer, Observer)
    rows: list[Mapping[str, float]] = []
    step_rows: list[dict[str, float]] = []
    start = port.loop.epoch

    def take_steps(epoch: int) -> None:
        new = observer.steps[len(step_rows):]
        step_rows.extend({"epoch": float(epoch), "step": float(j), **r}
                         for j, r in enumerate(new))

    try:
        where = f"in the checkpoint segment from epoch {start}"
        for i, record in enumerate(_drive(port, where, epochs)):
            take_steps(start + i)
            rows.append(record.metrics)
            if on_epoch is not None:
                on_epoch(start + i + 1)
    except StepLimitReached:  # a segment that gates only its first steps ends here
        take_steps(start + len(rows))
    return _columns(rows), _columns(step_rows)


def record_segments(port_id: str, config: Any, seed: int, starts: Iterable[int],
                    length: int, *, device: str = "cpu", registry: Registry | None = None,
                    step_limit: int | None = None) -> tuple[Columns, list[Segment]]:
    """Train the whole run once, keeping a checkpoint at each start and the continuations
    (with ``step_limit``, only each segment's first steps). Returns the per-epoch columns
    of the whole run and the segments."""
    port = build_port(port_id, config, seed, device=device, registry=registry)
    wanted, checkpoints = set(starts), {}

    def keep(done: int) -> None:
        if done in wanted:
            checkpoints[done] = port.checkpoint()

    keep(0)
    epochs, steps = _train_epochs(port, config.epochs, keep)
    segments = []
    for start in sorted(checkpoints):
        end = min(start + length, len(epochs[next(iter(epochs))]))
        mask = (steps["epoch"] >= start) & (steps["epoch"] < end)
        seg_steps = {k: v[mask] for k, v in steps.items()}
        if step_limit is not None:
            seg_steps = {k: v[:step_limit] for k, v in seg_steps.items()}
        segments.append(Segment(start, end - start, checkpoints[start],
                                {k: v[start:end] for k, v in epochs.items()}, seg_steps))
    return epochs, segments


def run_segment(port_id: str, config: Any, seed: int, segment: Segment, *,
                device: str = "cpu", registry: Registry | None = None,
                params: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
                step_limit: int | None = None) -> tuple[Columns, Columns]:
    """Restore ``segment``'s checkpoint into a fresh port and train its epochs.

    ``params`` transforms the restored parameters first (calibration's 1-ulp nudge);
    ``config`` may differ from the recording's in what the update reads (e.g. ``lr``).
    With ``step_limit`` training stops after that many steps (no epoch completes then).
    """
    return next(iter(run_segments(port_id, config, seed, [segment], device=device,
                                  registry=registry, params=params, step_limit=step_limit)))


def run_segments(port_id: str, config: Any, seed: int, segments: Sequence[Segment], *,
                 device: str = "cpu", registry: Registry | None = None,
                 params: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
                 step_limit: int | None = None,
                 after_restore: Callable[[Loop], None] | None = None
                 ) -> Iterator[tuple[Columns, Columns]]:
    """``run_segment`` for each segment, on one port built once: each segment restores its
    checkpoint into it (a restore replaces the whole training state, so this equals a
    fresh port per segment, and saves a build per segment). ``after_restore`` may change
    the restored schedule state (calibration's lr change where the schedule keeps its
    learning rate in ``Loop.extra``)."""
    port = build_port(port_id, config, seed, device=device, registry=registry,
                      max_steps=step_limit)
    assert port.loop is not None
    for segment in segments:
        port.loop.observer = Observer(keep_steps=True, max_steps=step_limit)
        port.restore(segment.checkpoint)
        if params is not None:
            port.set_params(params(port.get_params()))
        if after_restore is not None:
            after_restore(port.loop)
        yield _train_epochs(port, segment.length)


def prove_restore(port_id: str, config: Any, seed: int, *, device: str = "cpu",
                  registry: Registry | None = None) -> None:
    """Refuse a port whose checkpoints do not restore exactly: train two epochs keeping a
    checkpoint after the first (after the build for a one-epoch run), restore it into a
    fresh port, train that epoch again, and require every step's quantities and the
    epoch's figures to be bit-identical (``RestoreNotExactError`` names the first that
    is not). What ``record`` runs before it writes a golden with segments."""
    from harness.errors import RestoreNotExactError

    at = 1 if getattr(config, "epochs", 2) >= 2 else 0
    port = build_port(port_id, config, seed, device=device, registry=registry)
    kept: dict[int, Any] = {}
    if at == 0:
        kept[0] = port.checkpoint()
    epochs, steps = _train_epochs(port, at + 1,
                           lambda done: kept.setdefault(done, port.checkpoint())
                           if done == at else None)
    mask = steps["epoch"] == at
    again_epochs, again_steps = run_segment(
        port_id, config, seed,
        Segment(at, 1, kept[at], {k: v[at:at + 1] for k, v in epochs.items()}, {}),
        device=device, registry=registry)
    for kind, want, got in (("step", {k: v[mask] for k, v in steps.items()}, again_steps),
                            ("epoch", {k: v[at:at + 1] for k, v in epochs.items()},
                             again_epochs)):
        for name, expected in want.items():
            obtained = got.get(name, np.array([]))
            row = first_bit_difference(obtained, expected)
            if row is not None:
                raise RestoreNotExactError(
                    f"{port_id} restored from its own checkpoint does not continue its run "
                    f"bit for bit: {name} differs ({kind} {row} of epoch {at}).",
                    context={"quantity": name,
                             "uninterrupted run": _at(expected, row),
                             "restored run": _at(obtained, row)},
                    fix="the port keeps training state no checkpoint holds: draw randomness "
                    "from the framework's global generator (captured by every checkpoint) "
                    "or keep it in Loop.extra (JSON or numpy arrays), and give optimizer "
                    "and carried state to the adapter's optimizer_state/state_from_numpy "
                    "(see harness.interface.Adapter). No golden was written.",
                    port=port_id)


def _at(values: np.ndarray, row: int) -> str:
    return repr(float(values[row])) if row < len(values) else "(missing)"
