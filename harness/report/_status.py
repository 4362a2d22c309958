"""How each run stands: against its golden (through the one gate routine), against its
reference framework's run from the same initial weights, and the seed envelopes beside
the goldens (read through their verified reader)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.compare import Comparison, compare_trajectories
from harness.errors import GoldenMissingError, HarnessError
from harness.golden import Envelope, GoldenStore, gate, load_envelope, record_command, resolve
from harness.interface import Tolerance, Trajectory, TutorialSpec, config_hash
from harness.registry import Registry
from harness.report._runs import RunSet


@dataclass(frozen=True)
class GoldenStatus:
    """How a run compares with its golden, as the summary shows it."""

    status: str
    first_divergent_epoch: int | None = None
    max_rel_error: float | None = None
    golden: Trajectory | None = None
    note: str = ""


def golden_status(traj: Trajectory, store: GoldenStore, registry: Registry) -> GoldenStatus:
    """pass / REGRESSION (first divergent epoch, max rel error) / no golden / golden refused
    (the gate's reason: unreadable, foreign config, another seed...) / not comparable."""
    spec = registry.spec(traj.tutorial)
    if traj.meta.get("config_hash") != config_hash(spec.profile(traj.profile)):
        return GoldenStatus("not comparable", note="the run's config differs from the profile's")
    try:
        req = resolve(traj.port_id, traj.profile, device=str(traj.meta.get("device", "cpu")),
                      golden_dir=store.root, registry=registry)
        verdict = gate(req, obtained=traj, write_obtained=False)
    except GoldenMissingError:
        return GoldenStatus("no golden", note=f"`{record_command(traj.port_id, traj.profile)}`")
    except HarnessError as exc:
        return GoldenStatus("golden refused", note=exc.summary)
    comp = verdict.comparison
    return GoldenStatus("pass" if comp.passed else "REGRESSION", comp.first_divergent_epoch,
                        comp.max_rel_error, verdict.expected)


def cross_tolerances(spec: TutorialSpec) -> dict[str, Tolerance]:
    """The spec's cross-framework tolerances, falling back to its golden ones."""
    merged = dict(spec.tolerances)
    merged.update(spec.cross_framework)
    return merged


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
