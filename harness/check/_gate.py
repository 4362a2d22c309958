"""The gate: the one routine that compares a run with a golden.

Modelled on pytest-regressions' ``perform_regression_check``: resolve the request once
(port, profile, seed, device, golden dir, and the golden's port for a cross-environment
check), load and verify the golden, run (unless the caller has the run), compare, write
the obtained files, and return a verdict. The CLI, the pytest plugin, the report and the
envelope check all call ``gate``; nothing else compares a run with a golden.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.backends import device_kind, framework_available
from harness.compare import Comparison, OutputComparison, compare_trajectories, format_pair
from harness.errors import ConfigChangedError, ConfigMismatchError, UsageError
from harness.golden import (
    CPU_KIND,
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
    Tolerance,
    Trajectory,
    TutorialSpec,
    config_dict,
    config_hash,
)
from harness.interface._observe import EPOCH_OBSERVABLES
from harness.project import HARNESS_DISTRIBUTION, ProjectConfig, find_project
from harness.registry import PortEntry, Registry, default_registry
from harness.runner import (
    ProgressFn,
    parse_device,
    prove_restore,
    run_port,
    start_port,
    train_started,
)
from harness.seeding import environment_info

#: The profile whose golden holds the checkpoint segments (``_segment_gate.SEGMENT_PROFILE``).
SEGMENTS_AT = "tutorial"

GOLDEN_DIR_ENV = "RNN_HARNESS_GOLDEN"


def default_golden_dir(entry: PortEntry | None = None) -> Path:
    """Where goldens live when no ``--golden-dir`` is given, the one rule the CLI and the
    plugin share: ``$RNN_HARNESS_GOLDEN``; else the ``[tool.rnn-harness] golden-dir`` of
    the project whose code registers ``entry`` (its pyproject.toml above the port's
    module), else of the nearest project above the working directory; else, for the
    harness's own ports, the repository's ``golden/``. A port of another distribution
    never defaults into the harness's store: with nothing configured it is an error that
    says what to configure."""
    if os.environ.get(GOLDEN_DIR_ENV):
        return Path(os.environ[GOLDEN_DIR_ENV]).resolve()
    own = entry is None or entry.distribution in ("", HARNESS_DISTRIBUTION)
    if entry is not None:
        home = _project_of(entry)
        if home.golden_dir is not None:
            return home.golden_dir
    here = find_project()
    if here.golden_dir is not None and (own or _same_project(here, entry)):
        return here.golden_dir
    beside = Path(__file__).resolve().parents[2] / "golden"
    if own:
        return beside if beside.is_dir() else Path("golden").resolve()
    assert entry is not None
    raise UsageError(
        f"No golden folder is configured for {entry.port_id} (registered by "
        f"{entry.distribution}), and its goldens do not belong in the harness's own store.",
        context={"port": entry.port_id, "registered by": entry.origin},
        fix="add `[tool.rnn-harness]` with `golden-dir = \"golden\"` to that project's "
        f"pyproject.toml, or pass --golden-dir DIR (or set {GOLDEN_DIR_ENV}).",
        port=entry.port_id)


def _project_of(entry: PortEntry) -> ProjectConfig:
    """The project configuration above the module that registers ``entry``'s port."""
    module = entry.target.partition(":")[0]
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return ProjectConfig()
    if found is None or not found.origin or not os.path.isfile(found.origin):
        return ProjectConfig()
    return find_project(Path(found.origin).parent)


def _same_project(project: ProjectConfig, entry: PortEntry | None) -> bool:
    name = (project.name or "").replace("_", "-").lower()
    return entry is not None and bool(name) and entry.distribution == name


@dataclass(frozen=True)
class GateRequest:
    """One resolved gate request. Build it with ``resolve``.

    ``against`` names another port of the same tutorial (usually another framework's)
    whose golden and stored initial weights this port is checked against, under the
    spec's cross-framework tolerances.
    """

    port_id: str
    profile: str
    device: str
    store: GoldenStore
    registry: Registry
    spec: TutorialSpec
    against: str | None = None
    #: the kind of ``device`` (``cpu``, ``cuda-sm90``...); ``store`` holds the goldens of
    #: this kind where one is recorded, else the cpu ones (``fallback`` says so)
    device_kind: str = CPU_KIND

    @property
    def fallback(self) -> bool:
        """True where this device kind has no golden and the cpu one stands in."""
        return self.store.kind != self.device_kind

    @property
    def golden_port(self) -> str:
        """Whose golden the run is compared with."""
        return self.against or self.port_id

    @property
    def golden_path(self) -> Path:
        return self.store.path(self.golden_port, self.profile)

    @property
    def tolerances(self) -> Mapping[str, Tolerance]:
        """The spec's table for this profile; across ports, its cross-framework one."""
        if self.against:
            return self.spec.cross_tolerances()
        return self.spec.tolerances_for(self.profile)


def resolve(port_id: str, profile: str, *, device: str = "cpu",
            golden_dir: str | os.PathLike[str] | None = None,
            registry: Registry | None = None, against: str | None = None,
            recording: bool = False) -> GateRequest:
    """Validate every part of a request before anything is read or trained. On a device
    other than the CPU the goldens of its kind are used where recorded (``recording``:
    always, so ``record`` leaves the other kinds alone), else the cpu ones."""
    registry = registry or default_registry()
    entry = registry.get(port_id)
    spec = registry.spec(entry.tutorial)
    spec.profile(profile)
    parse_device(device)
    kind = CPU_KIND
    if parse_device(device)[0] != "cpu" and framework_available(entry.framework):
        kind = device_kind(entry.framework, device)
    store = GoldenStore(default_golden_dir(entry) if golden_dir is None else golden_dir, kind)
    if not recording and kind != CPU_KIND and not store.exists(against or port_id, profile):
        store = store.of_kind(CPU_KIND)
    req = GateRequest(port_id, profile, device, store, registry, spec, against, kind)
    if against is not None:
        _check_against(req, registry.get(against).tutorial)
    return req


def device_kind_note(req: GateRequest) -> tuple[str, ...]:
    """Which device kind's golden a run off the CPU was checked against."""
    if req.device_kind == CPU_KIND:
        return ()
    if not req.fallback:
        return (f"checked against the {req.device_kind} golden ({req.golden_path})",)
    return (f"no {req.device_kind} golden of {req.golden_port} ({req.profile}) is recorded: "
            f"checked against the cpu one; `rnn-harness record {req.golden_port} --profile "
            f"{req.profile} --device {req.device}` records one beside it (the cpu golden "
            "stays as it is)",)


def _check_against(req: GateRequest, tutorial: str) -> None:
    if tutorial != req.spec.name:
        raise UsageError(
            f"--against {req.against} is a port of {tutorial}, not of {req.spec.name}.",
            context={"port": req.port_id, "--against": req.against},
            fix=f"name a port of the same tutorial, e.g. another framework's {req.spec.name} "
            "port (`rnn-harness list`).")
    missing = [m for m in req.spec.metrics if not (req.spec.cross_framework.get(m)
                                                   or req.spec.cross_framework.get("default"))]
    if missing:
        raise UsageError(
            f"Tutorial {req.spec.name} states no cross-framework tolerance for "
            f"{', '.join(missing)}.", context={"--against": req.against},
            fix="measure one and add it to the spec's cross_framework table.",
            tutorial=req.spec.name, port=req.port_id, profile=req.profile)


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
             *_ungated_notes(req, expected, obtained),
             *_notes(req, expected, obtained),
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


def divergence_notes(comp: Comparison) -> tuple[str, ...]:
    """The first epoch and quantity that left its tolerance (both values, and that epoch's
    other gated columns), then every output that differs, where it first does."""
    notes = []
    first = comp.first_divergence
    if first is not None:
        tol = first.tolerance
        others = "; ".join("{} {} vs {} ({})".format(name, *format_pair(a, b, 8),
                                                     "ok" if ok else "off")
                           for name, a, b, ok in first.others)
        got, want = format_pair(first.obtained, first.expected, 8)
        notes.append(f"first divergent: epoch {first.epoch}: {first.quantity} "
                     f"{got} vs golden {want} (rtol {tol.rtol:g}, atol {tol.atol:g})"
                     + (f"; {others}" if others else ""))
    notes += [_output_note(o) for o in comp.failed_outputs]
    return tuple(notes)


def _output_note(out: OutputComparison) -> str:
    where = out.name + "".join(f"[{key!r}]" for key in out.path)
    if out.char is not None:
        a, b = str(out.obtained), str(out.expected)
        got = repr(a[out.char]) if out.char < len(a) else "the end"
        want = repr(b[out.char]) if out.char < len(b) else "the end"
        return (f"output {where} differs at character {out.char}: {got} vs golden {want} "
                f"(exact); obtained {a!r}, golden {b!r}")
    if out.obtained is None or out.expected is None:
        side = "this run" if out.obtained is None else "the golden"
        return f"output {where} is missing from {side}"
    tol = out.tolerance
    return (f"output {where} differs: {out.obtained!r} vs golden {out.expected!r} (rtol "
            f"{tol.rtol:g}, atol {tol.atol:g})")


def _ungated_notes(req: GateRequest, golden: Trajectory, obtained: Trajectory
                   ) -> tuple[str, ...]:
    """What this run recorded that its golden lacks, so the gate could not judge it."""
    if req.against is not None:
        return ()
    missing = [n for n in EPOCH_OBSERVABLES if n in obtained.metrics and n not in golden.metrics]
    if not missing:
        return ()
    return (f"the golden predates the training observables ({', '.join(missing)}): they are "
            f"not gated; `{record_command(req.golden_port, req.profile)}` re-records it with "
            "them (say why in the commit)",)


def device_change_notes(req: GateRequest, golden_meta: dict[str, Any]) -> tuple[str, ...]:
    """For a failed run (prefix or segments) on another kind of device than its golden's
    (``golden_meta``): the tolerances measured one device's noise, and a device change
    moves results further."""
    recorded = str(golden_meta.get("device", "cpu"))
    if parse_device(recorded)[0] == parse_device(req.device)[0]:
        return ()
    return (f"device change: the golden was recorded on {recorded}, this run is on "
            f"{req.device}. The tolerances are {recorded} noise; another device computes in "
            "another order (cuDNN, other kernels), and in chaotic stretches that alone can "
            "leave them (measured on an H200: the spec's devices line). To gate "
            f"{req.device} runs, record a {req.device_kind} golden beside the cpu one: "
            f"`rnn-harness record {req.port_id} --profile {req.profile} --device "
            f"{req.device}` (the check then picks it on this kind of device).",)


def machine_notes(req: GateRequest, golden_meta: Mapping[str, Any],
                  run_meta: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """For a failed run (prefix or segments): what decides the bits and differs between the
    golden's machine and this one (``harness.provenance``), with the command that names
    the factor behind the failure. ``run_meta``: this run's (default: this process's)."""
    from harness.provenance import provenance_note

    note = provenance_note(golden_meta, run_meta or environment_info(), req.golden_port)
    return () if note is None else (note,)


def _notes(req: GateRequest, golden: Trajectory, obtained: Trajectory) -> tuple[str, ...]:
    """Config fields the golden's run and this run differ in (the spec's cross_config)."""
    if req.against is None:
        return ()
    # through JSON, as the golden's config was stored (tuples read back as lists)
    ours = json.loads(json.dumps(obtained.meta.get("config") or {}, default=repr))
    theirs = golden.meta.get("config") or {}
    return tuple(f"config {k}: {req.golden_port}'s golden {theirs.get(k)!r}, this run "
                 f"{ours.get(k)!r} (the spec's cross_config; the comparison assumes it does "
                 f"not change {req.golden_port}'s model)"
                 for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k))


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


#: numpy's legacy seeding (which every port's seeding goes through) takes 0 .. 2**32 - 1.
SEED_RANGE = (0, 2**32 - 1)


def check_seed(seed: object, option: str = "seed") -> None:
    """Refuse a seed numpy cannot take, naming the range (before anything trains)."""
    low, high = SEED_RANGE
    if seed is None:
        return
    if not isinstance(seed, int) or isinstance(seed, bool) or not low <= seed <= high:
        raise UsageError(f"The {option} {seed!r} is outside the seeds numpy accepts.",
                         context={option: seed, "valid range": f"{low} .. {high} (2**32 - 1)"},
                         fix=f"pass a whole number from {low} to {high}.")


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
