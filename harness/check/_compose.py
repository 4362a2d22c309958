"""The composition: one port's whole verdict against its goldens, in one place.

``check`` resolves the request once, reproduces the golden's thread count, trains the
profile's run and compares it with its golden (``harness.golden.gate``), then replays every
checkpoint segment of the tutorial golden (``gate_segments``) at that golden's thread
count. It returns data (``CheckResult``): the CLI prints it, the pytest plugin asserts it,
the report shows it. Nothing else composes a verdict, so all three judge alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.check._gate import Verdict, gate, load_golden, record
from harness.check._notes import device_change_notes, machine_notes
from harness.check._request import GateRequest, resolve
from harness.check._segments import (
    SEGMENT_PROFILE,
    SegmentVerdict,
    gate_segments,
    record_golden_segments,
)
from harness.compare import Comparison
from harness.errors import (
    EXIT_REGRESSION,
    CorpusUnavailableError,
    DivergenceError,
    HarnessError,
)
from harness.interface import Trajectory
from harness.registry import Registry
from harness.runner import ProgressFn
from harness.seeding import recorded_threads, use_threads

__all__ = ["CheckResult", "PartError", "check", "check_envelope_of", "check_request",
           "check_segments",
           "golden_threads", "record_golden", "record_segments_of",
           "segments_summary"]


@dataclass(frozen=True)
class PartError:
    """An error that stopped one part of a check (``run`` or ``segments``)."""

    part: str
    error: HarnessError

    @property
    def code(self) -> int:
        return self.error.exit_code


@dataclass(frozen=True)
class CheckResult:
    """One port's verdict: its profile's run against the golden (``verdict``, None where it
    could not be judged: see ``errors``), and its checkpoint segments (``segments``, None
    where they were not replayed). ``skipped`` names why nothing could run here (no data)."""

    request: GateRequest
    verdict: Verdict | None = None
    segments: tuple[SegmentVerdict, ...] | None = None
    errors: tuple[PartError, ...] = ()
    segment_notes: tuple[str, ...] = ()
    skipped: str | None = None
    #: the seed envelope's verdict (``harness.sweep.EnvelopeCheck``), where asked for
    envelope: Any = None

    @property
    def port_id(self) -> str:
        return self.request.port_id

    @property
    def failed_segments(self) -> tuple[SegmentVerdict, ...]:
        return tuple(v for v in self.segments or () if not v.passed)

    @property
    def run_passed(self) -> bool:
        return self.verdict is not None and self.verdict.passed

    @property
    def code(self) -> int:
        """The CLI's exit code for this port: 0 pass or skipped, 1 the numbers moved
        (prefix, a segment, a divergence, a changed config), 2 input, 3 a crash."""
        codes = [e.code for e in self.errors]
        if self.verdict is not None and not self.verdict.passed:
            codes.append(EXIT_REGRESSION)
        if self.failed_segments:
            codes.append(EXIT_REGRESSION)
        if self.envelope is not None and not self.envelope.passed:
            codes.append(EXIT_REGRESSION)  # the band or the outcomes: the single seed informs
        return max(codes, default=0)

    @property
    def passed(self) -> bool:
        return self.code == 0 and self.skipped is None

    # the run's side, as ``Verdict`` names it (None where the run could not be judged)
    @property
    def obtained(self) -> Trajectory | None:
        return None if self.verdict is None else self.verdict.obtained

    @property
    def expected(self) -> Trajectory | None:
        return None if self.verdict is None else self.verdict.expected

    @property
    def comparison(self) -> Comparison | None:
        return None if self.verdict is None else self.verdict.comparison

    def error(self, part: str) -> HarnessError | None:
        return next((e.error for e in self.errors if e.part == part), None)


def golden_threads(req: GateRequest) -> int | None:
    """The thread count ``req``'s golden records; None where it records none or cannot be
    read (the gate then says why)."""
    try:
        return recorded_threads(load_golden(req).meta)
    except HarnessError:
        return None


def check(port_id: str, profile: str = "ci", *, device: str = "cpu",
          golden_dir: str | Path | None = None, registry: Registry | None = None,
          against: str | None = None, segments: bool = True,
          obtained: Trajectory | None = None, progress: ProgressFn | None = None,
          on_segment: Callable[[SegmentVerdict], None] | None = None,
          write_obtained: bool = True, envelope: bool = False,
          seeds: int | None = None) -> CheckResult:
    """``port_id``'s whole verdict at ``profile`` (see ``check_request``). Raises only for
    a request that cannot be resolved (unknown port, profile or device)."""
    req = resolve(port_id, profile, device=device, golden_dir=golden_dir, registry=registry,
                  against=against)
    return check_request(req, segments=segments, obtained=obtained, progress=progress,
                         on_segment=on_segment, write_obtained=write_obtained,
                         envelope=envelope, seeds=seeds)


def check_request(req: GateRequest, *, segments: bool = True,
                  obtained: Trajectory | None = None, progress: ProgressFn | None = None,
                  on_segment: Callable[[SegmentVerdict], None] | None = None,
                  write_obtained: bool = True, envelope: bool = False,
                  seeds: int | None = None, fail_fast: bool = False) -> CheckResult:
    """Gate the profile's run (``obtained``, or trained here at the golden's thread count),
    then replay the tutorial golden's checkpoint segments (unless ``segments`` is False,
    the spec plans none, or the check is against another port's golden), and with
    ``envelope`` check the seed envelope too (its first ``seeds`` seeds; see
    ``harness.sweep.check_envelope``: the band and the outcome test gate, the single
    seed is shown). ``fail_fast`` stops at the first failure: a run that fails replays no
    segment, and the segments stop at the first that fails (the same exit code, sooner;
    the failures after the first are not looked for)."""
    result = CheckResult(req)
    use_threads(golden_threads(req))
    try:
        verdict = gate(req, obtained, progress=progress, write_obtained=write_obtained)
        result = replace(result, verdict=verdict)
    except CorpusUnavailableError as exc:  # its segments need the same data: skip them too
        return replace(result, skipped=exc.summary, errors=(PartError("run", exc),))
    except HarnessError as exc:
        result = replace(result, errors=(PartError("run", exc),))
    if fail_fast and not result.run_passed:
        return result
    if segments:
        result = check_segments(result, on_segment=on_segment, fail_fast=fail_fast)
    return check_envelope_of(result, seeds=seeds) if envelope else result


def check_envelope_of(result: CheckResult, *, seeds: int | None = None) -> CheckResult:
    """``result`` with its port's seed envelope checked (trained here, seed after seed;
    ``rnn-harness check --envelope`` spreads the seeds over an executor instead)."""
    from harness.sweep import check_envelope

    req = result.request
    try:
        found = check_envelope(req.port_id, req.profile, req.store, device=req.device,
                               registry=req.registry, seeds=seeds)
    except HarnessError as exc:
        return replace(result, errors=(*result.errors, PartError("envelope", exc)))
    return replace(result, envelope=found)


def check_segments(result: CheckResult, *,
                   on_segment: Callable[[SegmentVerdict], None] | None = None,
                   fail_fast: bool = False) -> CheckResult:
    """``result`` with the tutorial golden's checkpoint segments replayed at that golden's
    thread count (unchanged where the spec plans none, the check is against another port's
    golden, or the port was skipped for want of its data)."""
    req = result.request
    if req.against is not None or req.spec.segments is None or result.skipped is not None:
        return result
    use_threads(golden_threads(replace(req, profile=SEGMENT_PROFILE, against=None)))
    try:
        verdicts = tuple(gate_segments(req, on_segment=on_segment, fail_fast=fail_fast))
    except DivergenceError as exc:  # a blow-up inside a segment: the numbers moved
        return replace(result, errors=(*result.errors, PartError("segments", exc)))
    except HarnessError as exc:
        return replace(result, errors=(*result.errors, PartError("segments", exc)))
    notes: tuple[str, ...] = ()
    if any(not v.passed for v in verdicts):
        golden_meta = req.store.read(req.port_id, SEGMENT_PROFILE).meta
        notes = (*device_change_notes(req, golden_meta), *machine_notes(req, golden_meta))
        if fail_fast:
            notes += ("--fail-fast: the segments after the first failed one were not "
                      "replayed",)
    return replace(result, segments=verdicts, segment_notes=notes)


def segments_summary(result: CheckResult) -> dict[str, object] | None:
    """The segment half of ``result`` as plain JSON, for a run's metadata (the report
    saves and shows it): status, how many segments ran and failed, and the first failure
    as the CLI prints it. None where no segment was replayed."""
    error = result.error("segments")
    if error is not None:
        status = "DIVERGED" if isinstance(error, DivergenceError) else (
            "REGRESSION" if error.exit_code == EXIT_REGRESSION else "ERROR")
        return {"status": status, "segments": 0, "failed": 0, "first": error.summary,
                "start": None}
    if result.segments is None:
        return None
    failed = result.failed_segments
    return {"status": "REGRESSION" if failed else "pass", "segments": len(result.segments),
            "failed": len(failed), "first": failed[0].describe() if failed else "",
            "start": failed[0].start if failed else None}


@dataclass(frozen=True)
class Recorded:
    """What ``record_golden`` wrote: the run, and (count, MB) of its checkpoint segments
    (None: its profile holds none)."""

    trajectory: Trajectory
    segments: tuple[int, float] | None = None


def record_golden(req: GateRequest, *, seed: int | None = None,
                  progress: ProgressFn | None = None,
                  on_segments: Callable[[Trajectory], None] | None = None) -> Recorded:
    """The one writer of goldens (``rnn-harness record`` and the plugin's
    ``--update-golden``): train and write ``req``'s golden at the policy's thread count
    (``record`` proves a restore exact first where segments are planned), then, for the
    profile that holds them, its checkpoint segments at the thread count it records
    (``on_segments`` is told before they start)."""
    use_threads()  # a new golden: the policy's count (or --threads), recorded in its meta
    traj = record(req, seed=seed, progress=progress)
    if req.profile != SEGMENT_PROFILE or req.spec.segments is None:
        return Recorded(traj)
    if on_segments is not None:
        on_segments(traj)
    return Recorded(traj, record_segments_of(req))


def record_segments_of(req: GateRequest) -> tuple[int, float]:
    """Record the checkpoint segments of ``req``'s existing tutorial golden (``record
    --segments-only``), at the thread count that golden records: (count, MB)."""
    use_threads(recorded_threads(load_golden(req).meta))
    return record_golden_segments(req)
