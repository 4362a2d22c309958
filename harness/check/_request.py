"""A check's request: which port, profile, device and device kind, and where its goldens
live (``[tool.rnn-harness]``, the harness's own store for its own ports), resolved and
validated once before anything is read or trained."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.backends import device_kind, framework_available
from harness.errors import UsageError
from harness.golden import CPU_KIND, GoldenStore
from harness.interface import Tolerance, TutorialSpec
from harness.project import HARNESS_DISTRIBUTION, ProjectConfig, find_project
from harness.registry import PortEntry, Registry, default_registry
from harness.runner import parse_device

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
