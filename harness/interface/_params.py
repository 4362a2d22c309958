"""The canonical parameter table: one row per parameter, and how each framework stores it.

Canonical form is the ``x @ W`` convention, float arrays keyed by name. A storage entry is
``path`` (the tensor as is), ``path.T`` (stored transposed, e.g. torch's ``(out, in)``
weights) or ``path[a:b]`` (rows ``a:b`` of a tensor that holds several parameters).
Reading and loading go through here only, so every port validates the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import UsageError
from harness.interface._port import Backend

_STORAGE = re.compile(r"^(?P<path>[A-Za-z_][\w.]*?)(?P<rows>\[(?P<a>\d*):(?P<b>\d*)\])?"
                      r"(?P<t>\.T)?$")


@dataclass(frozen=True)
class Storage:
    path: str
    rows: tuple[int | None, int | None] | None = None
    transposed: bool = False

    @classmethod
    def parse(cls, text: str) -> Storage:
        m = _STORAGE.match(text)
        if m is None:
            raise ValueError(f"bad storage {text!r}: use 'path', 'path.T' or 'path[a:b]'")
        rows = None
        if m["rows"]:
            rows = (int(m["a"]) if m["a"] else None, int(m["b"]) if m["b"] else None)
        return cls(m["path"], rows, bool(m["t"]))

    def read(self, full: np.ndarray) -> np.ndarray:
        value = full if self.rows is None else full[slice(*self.rows)]
        return np.ascontiguousarray(value.T if self.transposed else value).copy()

    def write(self, full: np.ndarray, value: np.ndarray) -> None:
        value = value.T if self.transposed else value
        if self.rows is None:
            full[...] = value
        else:
            full[slice(*self.rows)] = value


@dataclass(frozen=True)
class Param:
    """A canonical parameter: its name, its shape in symbols, how each framework stores it."""

    name: str
    shape: str
    stored: Mapping[str, str]
    doc: str = ""


@dataclass(frozen=True)
class ParamTable:
    """The parameters of one model (a tutorial, or one variant of it), in canonical order."""

    params: tuple[Param, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def storage(self, framework: str) -> dict[str, Storage]:
        out = {}
        for p in self.params:
            if framework not in p.stored:
                raise KeyError(f"parameter {p.name!r} says nothing of how {framework} stores it")
            out[p.name] = Storage.parse(p.stored[framework])
        return out

    def read(self, framework: str, tensors: Mapping[str, Any], backend: Backend
             ) -> dict[str, np.ndarray]:
        """Canonical copies of the live tensors."""
        full = {path: backend.to_numpy(t) for path, t in tensors.items()}
        return {name: s.read(full[s.path]) for name, s in self.storage(framework).items()}

    def load(self, framework: str, tensors: Mapping[str, Any], backend: Backend,
             params: Mapping[str, np.ndarray], *, port: str) -> None:
        """Check every name and shape first, then copy ``params`` into the live tensors
        (cast to each tensor's dtype). Nothing is written when anything is wrong."""
        current = self.read(framework, tensors, backend)
        missing = [n for n in self.names if n not in params]
        extra = [n for n in params if n not in current]
        bad = {n: f"obtained {tuple(np.shape(params[n]))}, expected {current[n].shape}"
               for n in self.names if n in params and np.shape(params[n]) != current[n].shape}
        if missing or extra or bad:
            raise UsageError(
                f"set_params got parameters that do not fit {port}.",
                context={"missing": ", ".join(missing) or None,
                         "unknown": ", ".join(extra) or None, **bad},
                fix=f"pass exactly {', '.join(self.names)} with the shapes of this model "
                "(same vocabulary and hidden size), as get_params returns them.",
                tutorial=port.split("/")[0], port=port,
            )
        full = {path: backend.to_numpy(t).copy() for path, t in tensors.items()}
        for name, s in self.storage(framework).items():
            s.write(full[s.path], np.asarray(params[name], dtype=full[s.path].dtype))
        for path, tensor in tensors.items():
            backend.assign(tensor, full[path])

    def to_storage(self, framework: str, params: Mapping[str, np.ndarray],
                   templates: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Canonical arrays assembled into the framework's storage layout (``templates``:
        storage path -> an array of the stored shape and dtype, e.g. the live values)."""
        full = {path: np.array(t, copy=True) for path, t in templates.items()}
        for name, s in self.storage(framework).items():
            s.write(full[s.path], np.asarray(params[name], dtype=full[s.path].dtype))
        return full

