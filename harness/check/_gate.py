"""The gate: the run of a profile against its golden.

Modelled on pytest-regressions' ``perform_regression_check``: with a resolved request
(``_request``), load and verify the golden, run (unless the caller has the run), compare,
write the obtained files, and return a ``Verdict``; ``record`` is the one routine that
writes a golden's run. ``harness.check.check`` composes this with the segments.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.check._notes import (
    cross_config_notes,
    device_change_notes,
    divergence_notes,
    machine_notes,
    ungated_notes,
)
from harness.check._request import GateRequest, check_seed, device_kind_note
from harness.compare import Comparison, compare_trajectories
from harness.errors import ConfigChangedError, ConfigMismatchError
from harness.golden import (
    Envelope,
    read_envelope,
    record_envelope_command,
)
from harness.golden._store import (
    GoldenStore,
    record_command,
    record_initial_command,
    write_initial,
    write_trajectory,
)
from harness.golden._swap import write_failure
from harness.interface import (
    Params,
    Trajectory,
    config_dict,
    config_hash,
)
from harness.interface._observe import EPOCH_OBSERVABLES
from harness.runner import (
    ProgressFn,
    prove_restore,
    run_port,
    start_port,
    train_started,
)
from harness.seeding import environment_info

#: The profile whose golden holds the checkpoint segments (``_segments.SEGMENT_PROFILE``).
SEGMENTS_AT = "tutorial"

@dataclass(frozen=True)
class Verdict:
    """A run, its golden, how they compare, and where the obtained files went (if written).
    ``notes`` say what a reader must know: what first left its tolerance, what was not
    gated and why, and what a cross-environment comparison assumes."""

    request: GateRequest
    obtained: Trajectory
    expected: Trajectory
    comparison: Comparison
    obtained_path: Path | None = None
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.comparison.passed

    @property
    def golden_path(self) -> Path:
        return self.request.golden_path


def changed_fields(recorded: Mapping[str, Any] | None, current: Mapping[str, Any]
                   ) -> dict[str, tuple[Any, Any]]:
    """Config fields whose recorded value differs from the current one: name -> (golden,
    now); a field only one side has reads as missing on the other."""
    # through JSON, as the golden's config was stored (tuples read back as lists)
    now = json.loads(json.dumps(dict(current), default=repr))
    old = dict(recorded or {})
    missing = "(missing)"
    return {k: (old.get(k, missing), now.get(k, missing)) for k in sorted(set(old) | set(now))
            if old.get(k, missing) != now.get(k, missing)}


def _refuse_config(req: GateRequest, what: str, recorded_meta: Mapping[str, Any],
                   fix_command: str) -> ConfigMismatchError:
    """The config the golden (or envelope) was recorded with differs from the profile's:
    a regression naming each changed field with both values."""
    changed = changed_fields(recorded_meta.get("config"),
                             config_dict(req.spec.profile(req.profile)))
    fields = ", ".join(f"{k} {a!r} -> {b!r}" for k, a, b in
                       ((k, *v) for k, v in changed.items())) or "(fields not recorded)"
    return ConfigChangedError(
        f"The {req.profile} config of {req.golden_port} changed since its {what} was "
        f"recorded: {fields}.",
        context={**{f"config {k}": f"golden {a!r}, now {b!r}" for k, (a, b) in changed.items()},
                 "recorded config_hash": recorded_meta.get("config_hash"),
                 "current config_hash": config_hash(req.spec.profile(req.profile))},
        fix="if the profile changed on purpose, re-record: "
        f"`{fix_command}` and say why in the commit; otherwise restore the profile in "
        "spec.py.", tutorial=req.spec.name, port=req.golden_port, profile=req.profile)


def load_golden(req: GateRequest) -> Trajectory:
    """Read and verify the golden; refuse one recorded for a different configuration."""
    golden = req.store.read(req.golden_port, req.profile)
    if golden.meta["config_hash"] != config_hash(req.spec.profile(req.profile)):
        raise _refuse_config(req, "golden", golden.meta,
                             record_command(req.golden_port, req.profile))
    return golden


def load_envelope(req: GateRequest) -> Envelope:
    """Read and verify the seed envelope; refuse one recorded for another configuration."""
    env = read_envelope(req.store, req.golden_port, req.profile)
    if env.meta.get("config_hash") != config_hash(req.spec.profile(req.profile)):
        raise _refuse_config(req, "envelope", env.meta,
                             record_envelope_command(req.golden_port, req.profile,
                                                     len(env.seeds)))
    return env


def load_initial(req: GateRequest, golden: Trajectory) -> Params:
    """The golden's stored initial weights, refused unless they belong to that golden."""
    params, meta = req.store.read_initial(req.golden_port, req.profile)
    for key in ("seed", "config_hash"):
        if meta[key] != golden.meta.get(key):
            raise ConfigMismatchError(
                f"The initial weights of {req.golden_port} ({req.profile}) belong to another "
                f"golden: their {key} is {meta[key]!r}, the golden's {golden.meta.get(key)!r}.",
                context={"folder": req.golden_path},
                fix="re-record them on purpose: "
                f"`{record_initial_command(req.golden_port, req.profile)}`.",
                tutorial=req.spec.name, port=req.golden_port, profile=req.profile)
    return params


def golden_seed(golden: Trajectory, req: GateRequest) -> int:
    """The seed a check must train with: the one the golden was recorded with."""
    seed = golden.meta.get("seed")
    return seed if isinstance(seed, int) else req.spec.default_seed


def recorded_seed(req: GateRequest) -> int | None:
    """The seed of the golden on disk (verified), or None where none is recorded yet."""
    if not req.store.exists(req.golden_port, req.profile):
        return None
    return golden_seed(load_golden(req), req)


def gate(req: GateRequest, obtained: Trajectory | None = None, *,
         progress: ProgressFn | None = None, write_obtained: bool = True) -> Verdict:
    """Load and verify the golden, train (unless ``obtained`` is given), compare, and on a
    mismatch write ``*.obtained.*`` beside the golden. The golden is read first, so a
    missing or broken golden fails before any training time is spent."""
    expected = load_golden(req)
    seed = golden_seed(expected, req)
    if obtained is None:
        obtained = _run(req, seed, expected, progress)
    elif obtained.meta.get("seed", seed) != seed:
        raise ConfigMismatchError(
            f"The run of {req.port_id} ({req.profile}) used seed {obtained.meta.get('seed')}"
            f", its golden seed {seed}.",
            context={"golden": req.golden_path},
            fix=f"train with the golden's seed ({seed}), e.g. run_port(..., seed={seed}), or "
            "re-record the golden on purpose with the seed you want.",
            tutorial=req.spec.name, port=req.port_id, profile=req.profile)
    comparison = compare_trajectories(obtained, expected, req.spec.metrics, req.tolerances,
                                      observables=EPOCH_OBSERVABLES, outputs=True)
    path = None
    notes = (*device_kind_note(req), *divergence_notes(comparison),
             *ungated_notes(req, expected, obtained),
             *cross_config_notes(req, expected, obtained),
             *(() if comparison.passed else device_change_notes(req, expected.meta)),
             *(() if comparison.passed else machine_notes(req, expected.meta, obtained.meta)))
    if not comparison.passed and write_obtained:
        path, why = _write_obtained(req, obtained)
        if path is None or path != req.store.live(req.golden_port, req.profile):
            notes += (_elsewhere_note(req, path, why),)
    return Verdict(req, obtained, expected, comparison, path, notes)


def _run(req: GateRequest, seed: int, golden: Trajectory, progress: ProgressFn | None
         ) -> Trajectory:
    """The port's run for this request: seeded as the golden was, and for a check against
    another port, started from that golden's initial weights with the same-model config."""
    if req.against is None:
        return run_port(req.port_id, req.profile, seed=seed, device=req.device,
                        registry=req.registry, progress=progress)
    params = load_initial(req, golden)
    traj = run_port(req.port_id, req.profile, seed=seed, device=req.device, params=params,
                    config=req.spec.same_model_config(req.profile), registry=req.registry,
                    progress=progress)
    traj.meta["against"] = req.against
    return traj


#: Where obtained files go when the golden folder is not writable (a read-only checkout).
OBTAINED_FALLBACK = "rnn-harness-obtained"


def obtained_fallback_dir() -> Path:
    return Path(tempfile.gettempdir()) / OBTAINED_FALLBACK


def write_obtained_files(req: GateRequest, obtained: Trajectory) -> Path | None:
    """The obtained files beside the port's golden (tagged with the other port for a check
    against it); where that folder cannot take them, under ``obtained_fallback_dir()``
    instead; ``None`` when neither can (the verdict stands either way)."""
    return _write_obtained(req, obtained)[0]


def _write_obtained(req: GateRequest, obtained: Trajectory) -> tuple[Path | None, str]:
    """``write_obtained_files``'s path, and why each place that refused them did."""
    tag = f"against-{req.against.partition('/')[2]}" if req.against else ""
    reasons: list[str] = []
    for store in (req.store, GoldenStore(obtained_fallback_dir())):
        try:
            return store.write(obtained, obtained=True, tag=tag), "; ".join(reasons)
        except OSError as exc:
            reasons.append(write_failure(exc))
    return None, "; ".join(reasons)


def _elsewhere_note(req: GateRequest, path: Path | None, why: str) -> str:
    folder = req.store.live(req.golden_port, req.profile)
    if path is None:
        return f"the obtained files were not written ({why}) (the verdict stands)"
    return (f"the obtained files could not be written beside the golden in {folder} ({why}): "
            f"they are in {path} (the verdict stands)")


def record(req: GateRequest, *, seed: int | None = None,
           progress: ProgressFn | None = None) -> Trajectory:
    """Train and write the run as the golden, with the initial weights it trained from
    (the only writer of goldens). The golden's lock is held from before training (a second
    writer is refused at once), training finishes before anything is written, and the
    trajectory and weights replace the old golden together, so a failed or cut-off record
    leaves the old golden as it was. A golden with checkpoint segments is written only
    after ``prove_restore`` shows the port continues its run bit for bit from a checkpoint."""
    check_seed(seed)
    with req.store.locked(req.port_id, req.profile):
        if req.profile == SEGMENTS_AT and req.spec.segments is not None:
            prove_restore(req.port_id, req.spec.profile(req.profile),
                          req.spec.default_seed if seed is None else seed,
                          device=req.device, registry=req.registry)
        started = start_port(req.port_id, req.profile, seed=seed, device=req.device,
                             registry=req.registry)
        initial = started.port.get_params()
        traj = train_started(started, progress)
        with req.store.replacing(req.port_id, req.profile) as staged:
            write_trajectory(staged, traj)
            write_initial(staged, req.port_id, req.profile, initial,
                          _initial_meta(traj.meta, traj.meta["seed"]))
    return traj


def record_initial(req: GateRequest) -> Path:
    """Write only the initial weights of an existing golden (``record --initial-only``):
    the port built with the golden's seed and config; the golden's own files stay as
    they are."""
    with req.store.locked(req.port_id, req.profile):
        golden = load_golden(req)
        seed = golden_seed(golden, req)
        started = start_port(req.port_id, req.profile, seed=seed, device=req.device,
                             registry=req.registry)
        meta = {**_initial_meta(golden.meta, seed), "device": req.device}
        return req.store.write_initial(req.port_id, req.profile, started.port.get_params(),
                                       meta)


def _initial_meta(run_meta: Mapping[str, Any], seed: int) -> dict[str, Any]:
    env = environment_info()
    return {"seed": seed, "config_hash": run_meta["config_hash"],
            "config": run_meta.get("config"), "device": run_meta.get("device", "cpu"),
            "versions": env.get("versions")}
