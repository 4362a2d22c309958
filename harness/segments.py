"""Checkpoint segments: a whole tutorial run gated in short pieces that start exactly.

Recording a tutorial golden also keeps the complete training state (``Checkpoint``) at a
few epochs and the golden run's continuation after each one, per epoch and per step. A
segment check restores a checkpoint into a fresh port, trains the segment and compares it
with the stored continuation. Started from an exact state, chaotic divergence has no time
to grow, so a tight tolerance gates late epochs that a whole-run comparison cannot.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.compare import format_pair
from harness.errors import HarnessError, PortCrashError, UsageError
from harness.interface import (
    Segment,
    SpecPort,
    Tolerance,
    relative_error,
    tolerance_for,
    within,
)
from harness.interface._observe import Observer, StepLimitReached
from harness.registry import Registry, default_registry
from harness.runner import _innermost_frame
from harness.seeding import prepare_determinism, seed_everything

Columns = dict[str, np.ndarray]


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


def _train(port: SpecPort, epochs: int, on_epoch: Callable[[int], None] | None = None
           ) -> tuple[Columns, Columns]:
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
        for i, record in enumerate(port.train()):
            take_steps(start + i)
            rows.append(record.metrics)
            if on_epoch is not None:
                on_epoch(start + i + 1)
            if i + 1 == epochs:
                break
    except StepLimitReached:  # a segment that gates only its first steps ends here
        take_steps(start + len(rows))
    except HarnessError:
        raise
    except Exception as exc:  # the port's own bug, as the runner reports it
        raise PortCrashError(
            f"{port.port_id} raised {type(exc).__name__} in the checkpoint segment from epoch "
            f"{start}: {exc}", context={"where": _innermost_frame(exc)},
            fix="this is a bug in the port (or the framework under it); rerun the segment "
            "under a debugger, or compare with its golden.",
            tutorial=port.port_id.split("/")[0], port=port.port_id) from exc
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
    epochs, steps = _train(port, config.epochs, keep)
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
                 step_limit: int | None = None) -> Iterator[tuple[Columns, Columns]]:
    """``run_segment`` for each segment, on one port built once: each segment restores its
    checkpoint into it (a restore replaces the whole training state, so this equals a
    fresh port per segment, and saves a build per segment)."""
    port = build_port(port_id, config, seed, device=device, registry=registry,
                      max_steps=step_limit)
    assert port.loop is not None
    for segment in segments:
        port.loop.observer = Observer(keep_steps=True, max_steps=step_limit)
        port.restore(segment.checkpoint)
        if params is not None:
            port.set_params(params(port.get_params()))
        yield _train(port, segment.length)


@dataclass(frozen=True)
class Divergence:
    """Where a segment first left its tolerance, and what was compared there."""

    epoch: int
    step: int | None
    quantity: str
    obtained: float
    expected: float
    others: tuple[tuple[str, float, float, bool], ...]

    def describe(self, start: int) -> str:
        where = f"epoch {self.epoch}" + ("" if self.step is None else f" step {self.step}")
        first = "{} {} vs golden {}".format(self.quantity,
                                            *format_pair(self.obtained, self.expected))
        rest = "; ".join("{} {} vs {} ({})".format(name, *format_pair(a, b),
                                                   "ok" if ok else "off")
                         for name, a, b, ok in self.others)
        return (f"first divergent: segment from epoch {start}, {where}: {first}"
                + (f"; {rest}" if rest else ""))


def first_divergence(obtained: Columns, expected: Columns, tolerances: Mapping[str, Tolerance],
                     quantities: Sequence[str], *, steps: bool, start: int = 0
                     ) -> Divergence | None:
    """The first row (and in it the first quantity, in ``quantities`` order) outside its
    tolerance; ``None`` when every row is within. Per-epoch rows count from ``start``; a
    side with fewer rows diverges at its first missing row (reported as NaN)."""
    n_exp = len(next(iter(expected.values())))
    n = min(n_exp, len(next(iter(obtained.values()))))
    present = [q for q in quantities if q in expected and q in obtained]
    bad_rows: dict[str, np.ndarray] = {}
    for q in present:
        ok = within(obtained[q][:n], expected[q][:n], tolerance_for(tolerances, q))
        bad = np.flatnonzero(~ok)
        bad_rows[q] = bad if bad.size or n == n_exp else np.array([n])
    hits = [(int(rows[0]), present.index(q), q) for q, rows in bad_rows.items() if rows.size]
    if not hits:
        return None
    row, _, quantity = min(hits)

    def value(cols: Columns, q: str) -> float:
        return float(cols[q][row]) if row < len(cols[q]) else float("nan")

    others = tuple((q, value(obtained, q), float(expected[q][row]),
                    bool(within(np.array([value(obtained, q)]), expected[q][row:row + 1],
                                tolerance_for(tolerances, q))[0]))
                   for q in present if q != quantity)
    epoch = int(expected["epoch"][row]) if steps else start + int(row)
    step = int(expected["step"][row]) if steps else None
    return Divergence(epoch, step, quantity, value(obtained, quantity),
                      float(expected[quantity][row]), others)


def max_rel(obtained: Columns, expected: Columns) -> dict[str, float]:
    """Per column, the largest relative difference over the rows both sides have."""
    out = {}
    for name, b in expected.items():
        if name in ("epoch", "step") or name not in obtained:
            continue
        n = min(len(b), len(obtained[name]))
        out[name] = float(np.max(relative_error(obtained[name][:n], b[:n]), initial=0.0))
    return out


def with_lr(config: Any, factor: float) -> Any:
    """``config`` with its learning rate scaled (the calibration signal)."""
    return dataclasses.replace(config, lr=config.lr * factor)


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
    epochs, steps = _train(port, at + 1,
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
            if obtained.shape != expected.shape or not np.array_equal(obtained, expected,
                                                                      equal_nan=True):
                row = _first_difference(obtained, expected)
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


def _first_difference(a: np.ndarray, b: np.ndarray) -> int:
    n = min(len(a), len(b))
    bad = np.flatnonzero(~((a[:n] == b[:n]) | (np.isnan(a[:n]) & np.isnan(b[:n]))))
    return int(bad[0]) if bad.size else n


def _at(values: np.ndarray, row: int) -> str:
    return repr(float(values[row])) if row < len(values) else "(missing)"
