"""How each run stands: against its golden (through the one gate routine), against its
reference framework's run from the same initial weights, and the seed envelopes beside
the goldens (read through their verified reader)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.check import check_request, load_envelope, load_golden, resolve
from harness.compare import Comparison, compare_trajectories
from harness.errors import DivergenceError, GoldenMissingError, HarnessError
from harness.golden import Envelope, GoldenStore, record_command
from harness.interface import Tolerance, Trajectory, TutorialSpec, config_hash
from harness.registry import Registry
from harness.report._runs import RunFailure, RunSet


@dataclass(frozen=True)
class StatusStyle:
    """How a golden status reads at a glance: a symbol (Markdown has no colour), the CSS
    class that colours it in HTML, and whether it is a failure (listed first)."""

    symbol: str
    css: str
    failing: bool


#: Every golden status a summary row can hold, in the order the report counts them.
STATUSES = {
    "REGRESSION": StatusStyle("\u2716", "regression", True),       # heavy x
    "DIVERGED": StatusStyle("\u2716", "diverged", True),
    "ERROR": StatusStyle("\u2716", "error", True),
    "golden refused": StatusStyle("\u2298", "refused", True),      # circled slash
    "not comparable": StatusStyle("\u2260", "not-comparable", True),
    "no golden": StatusStyle("\u25cb", "no-golden", False),        # white circle
    "pass": StatusStyle("\u2714", "pass", False),                   # heavy check mark
}
#: A status this table does not know (a newer saved summary) reads as a failure.
UNKNOWN_STATUS = StatusStyle("?", "error", True)


def status_style(status: str) -> StatusStyle:
    return STATUSES.get(status, UNKNOWN_STATUS)


def failure_status(failure: RunFailure) -> str:
    """DIVERGED for a run stopped by a NaN or infinite metric, ERROR for any other failure."""
    return "DIVERGED" if failure.error == DivergenceError.__name__ else "ERROR"


@dataclass(frozen=True)
class GoldenStatus:
    """How a run compares with its golden, as the summary shows it."""

    status: str
    first_divergent_epoch: int | None = None
    max_rel_error: float | None = None
    golden: Trajectory | None = None
    note: str = ""
    #: the gate's comparison and the golden's folder (a pass or a regression)
    comparison: Comparison | None = None
    golden_path: Path | None = None
    #: ``harness.check.segments_summary`` of the run's checkpoint segments (None: none run)
    segments: dict[str, Any] | None = None


def golden_status(traj: Trajectory, store: GoldenStore, registry: Registry) -> GoldenStatus:
    """pass / REGRESSION (first divergent epoch, max rel error) / no golden / golden refused
    (the gate's reason: unreadable, foreign config, another seed...) / not comparable."""
    spec = registry.spec(traj.tutorial)
    if traj.meta.get("config_hash") != config_hash(spec.profile(traj.profile)):
        return GoldenStatus("not comparable", note="the run's config differs from the profile's")
    try:  # the one check's verdict of this run (its segments were replayed in the worker)
        req = resolve(traj.port_id, traj.profile, device=str(traj.meta.get("device", "cpu")),
                      golden_dir=store.root, registry=registry)
        result = check_request(req, obtained=traj, segments=False, write_obtained=False)
    except HarnessError as exc:
        return GoldenStatus("golden refused", note=exc.summary)
    error, verdict = result.error("run"), result.verdict
    if isinstance(error, GoldenMissingError):
        return GoldenStatus("no golden",
                            note=f"record one: {record_command(traj.port_id, traj.profile)}")
    if error is not None or verdict is None:
        return GoldenStatus("golden refused", note=error.summary if error else "no verdict")
    comp = verdict.comparison
    status, note = "pass" if comp.passed else "REGRESSION", ""
    segments = traj.meta.get("segments_check")
    if isinstance(segments, dict) and segments.get("status") != "pass":
        # the check's verdict is the run's and its segments': either failing fails the row
        status = status if status != "pass" else str(segments.get("status", "ERROR"))
        note = f"checkpoint segments: {segments.get('first', '')}"
    return GoldenStatus(status, comp.first_divergent_epoch, comp.max_rel_error,
                        verdict.expected, note=note, comparison=comp,
                        golden_path=verdict.golden_path,
                        segments=segments if isinstance(segments, dict) else None)


def failed_run_golden(failure: RunFailure, profile: str, store: GoldenStore,
                      registry: Registry) -> Trajectory | None:
    """The verified golden of a port whose run failed (drawn under what the run reached),
    or None when it has none or the gate refuses it."""
    try:
        return load_golden(resolve(failure.port_id, profile, golden_dir=store.root,
                                   registry=registry))
    except HarnessError:
        return None


def cross_tolerances(spec: TutorialSpec) -> Mapping[str, Tolerance]:
    """The spec's one cross-framework rule (``TutorialSpec.cross_tolerances``), as
    ``check --against`` applies it."""
    return spec.cross_tolerances()


def cross_comparison(runs: RunSet, follower: Trajectory, registry: Registry
                     ) -> Comparison | None:
    """The transferred follower run against its reference's run on the same device (the
    two may come from different saved-runs folders), or None without that run."""
    spec = registry.spec(follower.tutorial)
    reference = runs.run(follower.meta["reference_port"], follower.meta["device"])
    if reference is None:
        return None
    return compare_trajectories(follower, reference, spec.metrics, cross_tolerances(spec))


def read_envelopes(store: GoldenStore, port_ids: Iterable[str], profile: str,
                   registry: Registry) -> tuple[dict[str, Envelope], list[str]]:
    """The verified seed envelopes of ``port_ids`` (none recorded: left out), and one note
    per envelope that was refused (corrupt, foreign schema or config), saying why."""
    envelopes, notes = {}, []
    for port_id in port_ids:
        try:
            req = resolve(port_id, profile, golden_dir=store.root, registry=registry)
            envelopes[port_id] = load_envelope(req)
        except GoldenMissingError:
            continue
        except HarnessError as exc:
            notes.append(f"seed envelope of {port_id} ({profile}) refused: {exc.summary}")
    return envelopes, notes
