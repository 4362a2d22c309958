"""The port registry: ids like ``elman_sine/torch`` mapped to ``"module:attr"`` strings.

Listing entries imports nothing; ``load`` imports one port on demand and checks it
against the ``Port`` protocol.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from harness.backends import FRAMEWORKS, framework_available, install_hint
from harness.errors import FrameworkMissingError, RegistryError, UnknownPortError, UsageError
from harness.interface import ADAPTER_MEMBERS, PORT_MEMBERS, Port, SpecPort, TutorialSpec


@dataclass(frozen=True)
class PortEntry:
    """One registered port: ``tutorial/framework[-variant]`` -> ``"module:attr"``."""

    tutorial: str
    framework: str
    variant: str
    target: str

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
    return getattr(importlib.import_module(module_name), attr)


class Registry:
    """Validated table of ports and tutorial specs."""

    def __init__(self, entries: Iterable[PortEntry] = (), specs: dict[str, str] | None = None):
        self._entries: dict[str, PortEntry] = {}
        self._specs = dict(specs or {})
        for entry in entries:
            self.register(entry)

    def register(self, entry: PortEntry) -> None:
        if entry.framework not in FRAMEWORKS:
            raise RegistryError(
                f"Port {entry.port_id!r} names an unknown framework {entry.framework!r}.",
                context={"target": entry.target, "known frameworks": ", ".join(FRAMEWORKS)},
                fix="use one of the known framework ids in the registry entry.",
            )
        if entry.port_id in self._entries:
            old = self._entries[entry.port_id]
            raise RegistryError(
                f"Port id {entry.port_id!r} is registered twice.",
                context={"first": old.target, "second": entry.target},
                fix="give one of the two entries a distinct variant name.",
            )
        if entry.tutorial not in self._specs:
            raise RegistryError(
                f"Port {entry.port_id!r} belongs to tutorial {entry.tutorial!r}, "
                "which has no spec.",
                context={"known tutorials": ", ".join(sorted(self._specs))},
                fix="add the tutorial's spec to SPECS in reference_impls/__init__.py.",
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

    def select(self, ports: Sequence[str], use_all: bool) -> Selection:
        """The named ports (each checked now, before any training), or with ``use_all``
        every port whose framework is installed here."""
        if use_all == bool(ports):
            raise UsageError("Name the ports to run, or pass --all, but not both.",
                             context={"ports": " ".join(ports) or None, "--all": use_all},
                             fix="e.g. `rnn-harness check elman_sine/torch --profile ci` "
                             "or `rnn-harness check --all --profile ci`.")
        for port_id in ports:
            self.get(port_id)
        if ports:
            return Selection(list(ports), [])
        chosen = [p for p in self.ids() if self.available(p)]
        return Selection(chosen, [p for p in self.ids() if p not in chosen])

    def available(self, port_id: str) -> bool:
        return framework_available(self.get(port_id).framework)

    def spec(self, tutorial: str) -> TutorialSpec:
        return _load_spec(self._specs[tutorial])

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


@cache
def default_registry() -> Registry:
    """The registry of the bundled reference implementations."""
    from reference_impls import PORTS, SPECS

    return Registry((PortEntry(*row) for row in PORTS), SPECS)
