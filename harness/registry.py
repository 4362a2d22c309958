"""The port registry: ids like ``elman_sine/torch`` mapped to ``"module:attr"`` strings.

Tutorials and ports register as *tables*: any object (usually a module) with ``PORTS``,
rows of ``(tutorial, framework, variant, "module:attr")``, and ``SPECS``, tutorial ->
``"module:attr"`` of its ``TutorialSpec``. A distribution publishes its table under the
``rnn_harness.tutorials`` entry-point group; ``default_registry()`` is every table so
published, the harness's own four tutorials included (``reference_impls``). Listing
entries imports only the tables; ``load`` imports one port on demand and checks it
against the ``Port`` (or ``Adapter``) protocol.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from harness.backends import FRAMEWORKS, framework_available, install_hint
from harness.errors import FrameworkMissingError, RegistryError, UnknownPortError, UsageError
from harness.interface import ADAPTER_MEMBERS, PORT_MEMBERS, Port, SpecPort, TutorialSpec
from harness.project import ProjectConfig, find_project, importable

#: The entry-point group a distribution registers its tutorials and ports under, e.g. in
#: its pyproject.toml: ``[project.entry-points."rnn_harness.tutorials"]`` /
#: ``my_project = "my_project"`` (a module with ``PORTS`` and ``SPECS``).
ENTRY_POINT_GROUP = "rnn_harness.tutorials"


@dataclass(frozen=True)
class PortEntry:
    """One registered port: ``tutorial/framework[-variant]`` -> ``"module:attr"``."""

    tutorial: str
    framework: str
    variant: str
    target: str
    #: where the row was registered (a table's entry point), named in registry errors
    origin: str = field(default="", compare=False)
    #: the distribution (or project) that registered it: ``check --all --project NAME``
    distribution: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        """The port part of the id, e.g. ``torch`` or ``mxnet-scratch`` (golden folder name)."""
        return f"{self.framework}-{self.variant}" if self.variant else self.framework

    @property
    def port_id(self) -> str:
        return f"{self.tutorial}/{self.name}"


@dataclass(frozen=True)
class Selection:
    """The ports a command runs, and those ``--all`` skipped (framework not installed)."""

    ports: list[str]
    skipped: list[str]


def _import_target(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


class Registry:
    """Validated table of ports and tutorial specs."""

    def __init__(self, entries: Iterable[PortEntry] = (), specs: dict[str, str] | None = None,
                 *, origin: str = ""):
        self._entries: dict[str, PortEntry] = {}
        self._specs = dict(specs or {})
        self._spec_origins = dict.fromkeys(self._specs, origin)
        for entry in entries:
            self.register(entry)

    def add_table(self, table: Any, origin: str, distribution: str = "") -> None:
        """Register a table's ``SPECS`` and ``PORTS`` (see the module docstring); ``origin``
        names where it came from in every error about it, ``distribution`` whose it is."""
        specs, rows = _table_parts(table, origin)
        for tutorial, target in specs.items():
            if tutorial in self._specs:
                raise RegistryError(
                    f"Tutorial {tutorial!r} is registered twice.",
                    context={"first": f"{self._specs[tutorial]} ({self._spec_origins[tutorial]})",
                             "second": f"{target} ({origin})"},
                    fix="rename one of the two tutorials, or uninstall one of the two "
                    "distributions.", tutorial=tutorial)
            self._specs[tutorial], self._spec_origins[tutorial] = target, origin
        for tutorial, framework, variant, target in rows:
            self.register(PortEntry(tutorial, framework, variant, target, origin=origin,
                                    distribution=distribution))

    def register(self, entry: PortEntry) -> None:
        where = entry.origin or "Registry(...)"
        if entry.framework not in FRAMEWORKS:
            raise RegistryError(
                f"Port {entry.port_id!r} names an unknown framework {entry.framework!r}.",
                context={"target": entry.target, "registered by": where,
                         "known frameworks": ", ".join(FRAMEWORKS)},
                fix="use one of the known framework ids in the registry entry.",
            )
        if entry.port_id in self._entries:
            old = self._entries[entry.port_id]
            raise RegistryError(
                f"Port id {entry.port_id!r} is registered twice.",
                context={"first": f"{old.target} ({old.origin or 'Registry(...)'})",
                         "second": f"{entry.target} ({where})"},
                fix="give one of the two entries a distinct variant name.",
            )
        if entry.tutorial not in self._specs:
            raise RegistryError(
                f"Port {entry.port_id!r} belongs to tutorial {entry.tutorial!r}, "
                "which has no spec.",
                context={"registered by": where,
                         "known tutorials": ", ".join(sorted(self._specs)) or None},
                fix="add the tutorial's spec to the SPECS table beside the PORTS row "
                "(tutorial -> \"module:attr\" of its TutorialSpec).",
            )
        self._entries[entry.port_id] = entry

    def entries(self) -> list[PortEntry]:
        return list(self._entries.values())

    def ids(self) -> list[str]:
        return list(self._entries)

    def tutorials(self) -> list[str]:
        return sorted(self._specs)

    def get(self, port_id: str) -> PortEntry:
        try:
            return self._entries[port_id]
        except KeyError:
            close = difflib.get_close_matches(port_id, self._entries, n=3)
            raise UnknownPortError(
                f"No port is registered as {port_id!r}.",
                context={"did you mean": ", ".join(close) or None,
                         "known ports": ", ".join(self._entries)},
                fix="run `rnn-harness list` to see every port id, and pass one of them.",
            ) from None

    def select(self, ports: Sequence[str], use_all: bool, project: str | None = None
               ) -> Selection:
        """The named ports (each checked now, before any training), or with ``use_all``
        every port whose framework is installed here; with ``project``, only the ports its
        distribution (or ``[tool.rnn-harness]`` project) registers."""
        if use_all == bool(ports):
            fix = ("e.g. `rnn-harness check elman_sine/torch --profile ci` or `rnn-harness "
                   "check --all --profile ci`.")
            if not ports:
                raise UsageError("Name the ports to run, or pass --all.",
                                 context={"ports": None, "--all": False}, fix=fix)
            raise UsageError("Name the ports to run, or pass --all, but not both.",
                             context={"ports": " ".join(ports), "--all": use_all}, fix=fix)
        for port_id in ports:
            self.get(port_id)
        if ports:
            return Selection(list(ports), [])
        ids = self.ids()
        if project is not None:
            ids = [p for p in ids if self._entries[p].distribution == normal_name(project)]
            if not ids:
                known = sorted({e.distribution for e in self._entries.values()} - {""})
                raise UsageError(f"No port is registered by the project {project!r}.",
                                 context={"--project": project,
                                          "projects": ", ".join(known) or None},
                                 fix="pass one of the projects listed (the distribution "
                                 "name of its pyproject.toml), or install the project "
                                 "(`pip install -e .`) or list its tables in its "
                                 "[tool.rnn-harness] tutorials.")
        chosen = [p for p in ids if self.available(p)]
        return Selection(chosen, [p for p in ids if p not in chosen])

    def available(self, port_id: str) -> bool:
        return framework_available(self.get(port_id).framework)

    def spec_target(self, tutorial: str) -> str:
        """The ``"module:attr"`` a tutorial's spec is registered under."""
        return self._specs[tutorial]

    def spec(self, tutorial: str) -> TutorialSpec:
        """The tutorial's ``TutorialSpec``, imported on first use."""
        if tutorial not in self._specs:
            raise UnknownPortError(
                f"No tutorial is registered as {tutorial!r}.",
                context={"known tutorials": ", ".join(sorted(self._specs)) or None},
                fix=f"register its table under the {ENTRY_POINT_GROUP!r} entry-point group "
                "(and reinstall), or pass a registry that holds it (pytest: the "
                "`rnn_harness_tutorials` ini option or the `harness_registry` fixture).",
                tutorial=tutorial)
        target = self._specs[tutorial]
        try:
            return _load_spec(target)
        except Exception as exc:  # an import error in someone else's table: name it
            raise RegistryError(
                f"The spec of tutorial {tutorial!r} cannot be imported.",
                context={"target": target, "registered by": self._spec_origins[tutorial]
                         or "Registry(...)", "error": f"{type(exc).__name__}: {exc}"},
                fix="fix the spec module, or the SPECS row that names it.",
                tutorial=tutorial) from exc

    def load(self, port_id: str) -> Port:
        """Import the port's module and return a fresh instance, checked against ``Port``."""
        entry = self.get(port_id)
        if not framework_available(entry.framework):
            module = FRAMEWORKS[entry.framework].module
            raise FrameworkMissingError(
                f"Port {port_id!r} needs {module!r}, which is not installed here.",
                context={"framework": entry.framework},
                fix=f"{install_hint(entry.framework)}.",
                tutorial=entry.tutorial, port=port_id,
            )
        obj = _import_target(entry.target)()
        if hasattr(obj, "forward_loss") and not hasattr(obj, "train"):
            # an adapter: the tutorial's schedule runs it (harness.interface.SpecPort)
            missing = [m for m in ADAPTER_MEMBERS if not hasattr(obj, m)]
            protocol = "Adapter"
        else:
            missing = [m for m in PORT_MEMBERS if not hasattr(obj, m)]
            protocol = "Port"
        if missing:
            raise RegistryError(
                f"{entry.target} does not implement the {protocol} protocol.",
                context={"missing members": ", ".join(missing)},
                fix=f"add the missing members (see harness.interface.{protocol}).",
                port=port_id,
            )
        if protocol == "Adapter":
            return SpecPort(self.spec(entry.tutorial), obj, entry.variant)
        port: Port = obj
        return port


@cache
def _load_spec(target: str) -> TutorialSpec:
    spec: TutorialSpec = _import_target(target)
    return spec


def _table_parts(table: Any, origin: str) -> tuple[dict[str, str], list[tuple[str, ...]]]:
    """A table's ``SPECS`` and ``PORTS``, checked for shape (every row four strings)."""
    specs, rows = getattr(table, "SPECS", None), getattr(table, "PORTS", None)
    bad_specs = not isinstance(specs, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in specs.items())
    bad_rows = rows is None or isinstance(rows, str) or not all(
        isinstance(r, (tuple, list)) and len(r) == 4 and all(isinstance(x, str) for x in r)
        for r in rows)
    if bad_specs or bad_rows:
        raise RegistryError(
            f"The tutorial table {origin} is malformed.",
            context={"object": type(table).__name__,
                     "SPECS": "ok" if not bad_specs else "missing, or not a dict of str -> "
                     "\"module:attr\"",
                     "PORTS": "ok" if not bad_rows else "missing, or not rows of four str: "
                     "(tutorial, framework, variant, \"module:attr\")"},
            fix="point the entry point at a module (or object) with PORTS and SPECS shaped "
            "like reference_impls/__init__.py's.")
    assert isinstance(specs, Mapping) and rows is not None
    return dict(specs), [tuple(r) for r in rows]


def _load_table(target: str, origin: str) -> Any:
    try:
        return _import_target(target)
    except Exception as exc:  # whatever a broken table raises: one clear error, no traceback
        raise RegistryError(
            f"The tutorial table {origin} cannot be loaded.",
            context={"target": target, "error": f"{type(exc).__name__}: {exc}"},
            fix="fix or reinstall the distribution that registers it (or uninstall it); "
            "`pip show -f DIST` lists what it installed.") from None


def registry_from_tables(targets: Sequence[str], distribution: str = "") -> Registry:
    """A registry of the tables named by ``"module"`` or ``"module:attr"`` targets (e.g.
    from the pytest ini option ``rnn_harness_tutorials``), and of nothing else."""
    registry = Registry()
    for target in targets:
        registry.add_table(_load_table(target, f"`{target}`"), f"`{target}`", distribution)
    return registry


def _distribution(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"


def _dist_name(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return normal_name(dist.name) if dist is not None else ""


def normal_name(name: str) -> str:
    """A distribution name as PEP 503 compares them (``My_Project`` == ``my-project``)."""
    return "-".join(name.replace("_", "-").replace(".", "-").lower().split("-"))


def registry_from_entry_points(group: str = ENTRY_POINT_GROUP,
                               project: ProjectConfig | None = None) -> Registry:
    """Every table registered under ``group`` by an installed distribution, and the tables
    ``project``'s ``[tool.rnn-harness] tutorials`` names (once: a table the project also
    installed under the entry point is not registered twice)."""
    registry = Registry()
    points = sorted(importlib.metadata.entry_points(group=group),
                    key=lambda ep: (_distribution(ep), ep.name))
    if not points:
        raise RegistryError(
            f"No tutorial is registered under the entry-point group {group!r}.",
            context={"group": group},
            fix="install rnn-harness so its entry points are written (`pip install -e .` in "
            "a checkout; `tox -r` recreates tox's environments); its own tutorials "
            "register there too.")
    for ep in points:
        origin = f"entry point `{ep.name} = {ep.value}` of {_distribution(ep)}"
        registry.add_table(_load_table(ep.value, origin), origin, _dist_name(ep))
    if project is not None and project.tutorials:
        importable(project)
        installed = {ep.value for ep in points}
        for target in project.tutorials:
            if target not in installed:
                origin = f"`{target}` ([tool.rnn-harness] tutorials of {project.path})"
                registry.add_table(_load_table(target, origin), origin,
                                   normal_name(project.name or ""))
    return registry


def default_registry() -> Registry:
    """Every tutorial and port installed distributions register under the
    ``rnn_harness.tutorials`` entry-point group (the bundled reference implementations
    among them), and those of the nearest project's ``[tool.rnn-harness] tutorials``;
    built once per process and project."""
    return _registry_of(find_project())


@cache
def _registry_of(project: ProjectConfig) -> Registry:
    return registry_from_entry_points(project=project)
