"""The segment half of the gate: record a tutorial golden's checkpoint segments, and
replay every stored one from its exact state, compared per epoch and per step."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.check._gate import golden_seed, load_golden
from harness.check._request import GateRequest
from harness.compare import Divergence, first_divergence, max_rel
from harness.errors import ConfigMismatchError, UsageError
from harness.golden import read_segments, record_segments_command, write_segments
from harness.interface import Segment
from harness.interface._observe import EPOCH_OBSERVABLES, STEP_OBSERVABLES
from harness.runner import prove_restore, record_segments, run_segments, segment_starts

#: The profile whose golden holds the segments.
SEGMENT_PROFILE = "tutorial"


@dataclass(frozen=True)
class SegmentVerdict:
    """One segment's replay against the golden continuation."""

    port_id: str
    start: int
    length: int
    divergence: Divergence | None
    max_rel: dict[str, float]
    seconds: float

    @property
    def passed(self) -> bool:
        return self.divergence is None

    def describe(self) -> str:
        if self.divergence is None:
            worst = max(self.max_rel.values(), default=0.0)
            return (f"segment from epoch {self.start} ({self.length} epochs): pass, max rel "
                    f"{worst:.2g}")
        return self.divergence.describe(self.start)


def _tutorial_request(req: GateRequest) -> GateRequest:
    from dataclasses import replace

    return replace(req, profile=SEGMENT_PROFILE, against=None)


def stored_segments(req: GateRequest) -> list[Segment]:
    """The tutorial golden's verified segments; refused when they belong to another run."""
    treq = _tutorial_request(req)
    golden = load_golden(treq)
    segments = read_segments(treq.store, treq.port_id, SEGMENT_PROFILE)
    for seg in segments:
        for key in ("seed", "config_hash"):
            if seg.meta.get(key) != golden.meta.get(key):
                raise ConfigMismatchError(
                    f"The checkpoint segment from epoch {seg.start} of {req.port_id} belongs to "
                    f"another golden run: its {key} is {seg.meta.get(key)!r}, the golden's "
                    f"{golden.meta.get(key)!r}.", context={"folder": treq.golden_path},
                    fix=f"re-record the segments on purpose: "
                    f"`{record_segments_command(req.port_id)}`.",
                    tutorial=req.spec.name, port=req.port_id, profile=SEGMENT_PROFILE)
    return segments


def gate_segments(req: GateRequest, *, on_segment: Callable[[SegmentVerdict], None] | None = None,
                  fail_fast: bool = False) -> list[SegmentVerdict]:
    """Replay every stored segment of ``req``'s port (``fail_fast``: up to the first that
    fails) and judge it under the spec's ``SegmentPlan`` tolerances. A spec with a plan but
    no segments on disk is an error that names the command that records them."""
    plan = req.spec.segments
    if plan is None:
        return []
    treq = _tutorial_request(req)
    segments = stored_segments(req)
    if not segments:
        raise UsageError(
            f"{req.port_id} has no checkpoint segments recorded, though its spec plans them.",
            context={"looked in": treq.golden_path / "segments"},
            fix=f"record them on purpose: `{record_segments_command(req.port_id)}`, and "
            "commit them with a message saying why.",
            tutorial=req.spec.name, port=req.port_id, profile=SEGMENT_PROFILE)
    golden = load_golden(treq)
    seed, config = golden_seed(golden, treq), req.spec.profile(SEGMENT_PROFILE)
    verdicts = []
    began = time.perf_counter()
    step_limit = plan.step_limit_for(req.port_id)
    runs = run_segments(req.port_id, config, seed, segments, device=req.device,
                        registry=req.registry, step_limit=step_limit)
    for seg, (epochs, steps) in zip(segments, runs, strict=True):
        step_div = first_divergence(steps, seg.steps, plan.step_tolerances, STEP_OBSERVABLES,
                                    steps=True)
        epoch_div = None
        if step_limit is None:
            epoch_div = first_divergence(epochs, seg.epochs, plan.epoch_tolerances,
                                         (*req.spec.metrics, *EPOCH_OBSERVABLES), steps=False,
                                         start=seg.start)
        divergence = _earliest(step_div, epoch_div)
        verdict = SegmentVerdict(req.port_id, seg.start, seg.length, divergence,
                                 {**(max_rel(epochs, seg.epochs) if epochs else {}),
                                  **{f"step {k}": v for k, v in max_rel(steps, seg.steps).items()}},
                                 time.perf_counter() - began)
        began = time.perf_counter()
        verdicts.append(verdict)
        if on_segment is not None:
            on_segment(verdict)
        if fail_fast and divergence is not None:
            break
    return verdicts


def _earliest(step: Divergence | None, epoch: Divergence | None) -> Divergence | None:
    """The step-level divergence when it is no later than the epoch-level one (it names the
    step); the epoch-level one when only it exists or it is earlier."""
    if step is None or (epoch is not None and epoch.epoch < step.epoch):
        return epoch
    return step


def record_golden_segments(req: GateRequest) -> tuple[int, float]:
    """Train the tutorial golden's run once more with checkpoints and write its segments
    (``record --segments-only``). Refused unless that run reproduces the golden's figure
    bit for bit: a segment must continue the golden's own run. Returns (segments, MB)."""
    plan = req.spec.segments
    treq = _tutorial_request(req)
    if plan is None:
        raise UsageError(f"Tutorial {req.spec.name} plans no checkpoint segments.",
                         context={"port": req.port_id},
                         fix="add a SegmentPlan to the spec (segments=...) first.",
                         tutorial=req.spec.name, port=req.port_id)
    golden = load_golden(treq)
    seed, config = golden_seed(golden, treq), req.spec.profile(SEGMENT_PROFILE)
    starts = segment_starts(config.epochs, plan.spacing, plan.length)
    epochs, segments = record_segments(req.port_id, config, seed, starts, plan.length,
                                       device=req.device, registry=req.registry,
                                       step_limit=plan.step_limit_for(req.port_id))
    for metric in req.spec.metrics:
        if not np.array_equal(epochs[metric], golden.metrics[metric]):
            bad = int(np.flatnonzero(epochs[metric] != golden.metrics[metric])[0])
            raise ConfigMismatchError(
                f"{req.port_id} no longer reproduces its tutorial golden, so its segments "
                "cannot be recorded from it.",
                context={"metric": metric, "first differing epoch": bad,
                         "obtained": float(epochs[metric][bad]),
                         "golden": float(golden.metrics[metric][bad])},
                fix="check the port first (`rnn-harness check PORT --profile tutorial`); "
                "re-record the golden on purpose if it changed on purpose.",
                tutorial=req.spec.name, port=req.port_id, profile=SEGMENT_PROFILE)
    prove_restore(req.port_id, config, seed, device=req.device, registry=req.registry)
    root = write_segments(treq.store, req.port_id, SEGMENT_PROFILE, segments,
                          {"seed": seed, "config_hash": golden.meta["config_hash"]})
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6
    return len(segments), size

