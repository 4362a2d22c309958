"""Project configuration: ``[tool.rnn-harness]`` in the nearest ``pyproject.toml``.

A project that uses the harness (this repository included) says where its goldens live and
which tutorial tables are its own, as pytest and ruff read theirs::

    [tool.rnn-harness]
    golden-dir = "golden"          # relative to this pyproject.toml
    tutorials = ["word_lm"]        # tables ("module" or "module:attr") of this project
    data = { corpus = "data" }     # data source name -> folder (see harness.data)

The CLI and the pytest plugin read it the same way; flags (``--golden-dir``) and
environment variables (``RNN_HARNESS_GOLDEN``, ``RNN_HARNESS_DATA``) override it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from harness.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, as a package (a dependency there)
    import tomli as tomllib

__all__ = ["HARNESS_DISTRIBUTION", "TABLE", "ProjectConfig", "find_project", "load_project"]

#: The table in pyproject.toml.
TABLE = "rnn-harness"
#: The distribution that ships the harness's own four tutorials (``reference_impls``).
HARNESS_DISTRIBUTION = "rnn-harness"
_KEYS = {"golden-dir", "tutorials", "data"}


@dataclass(frozen=True)
class ProjectConfig:
    """One project's ``[tool.rnn-harness]`` (``path`` None: no project found)."""

    path: Path | None = None
    name: str | None = None
    golden_dir: Path | None = None
    tutorials: tuple[str, ...] = ()
    data: Mapping[str, Path] = field(default_factory=dict, compare=False)

    @property
    def root(self) -> Path | None:
        return None if self.path is None else self.path.parent


def find_project(start: str | os.PathLike[str] | None = None) -> ProjectConfig:
    """The configuration of the nearest ``pyproject.toml`` at or above ``start`` (default:
    the working directory) that has a ``[tool.rnn-harness]`` table; an empty one where
    none has."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            config = load_project(candidate)
            if config.path is not None:
                return config
    return ProjectConfig()


@cache
def load_project(path: Path) -> ProjectConfig:
    """``path``'s ``[tool.rnn-harness]`` (checked: unknown keys and wrong types are usage
    errors naming the file and key), or an empty config where it has none."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path} cannot be read as TOML: {exc}",
                         context={"file": path},
                         fix="fix the file's syntax (it is read for [tool.rnn-harness]).") from None
    table = document.get("tool", {}).get(TABLE)
    if table is None:
        return ProjectConfig()
    _check(path, table)
    root = path.parent
    golden = table.get("golden-dir")
    return ProjectConfig(
        path=path,
        name=document.get("project", {}).get("name"),
        golden_dir=None if golden is None else (root / golden).resolve(),
        tutorials=tuple(table.get("tutorials", ())),
        data={name: (root / folder).resolve() for name, folder in table.get("data", {}).items()},
    )


def _check(path: Path, table: Any) -> None:
    def bad(key: str, want: str) -> UsageError:
        return UsageError(f"[tool.{TABLE}] {key} in {path} must be {want}.",
                          context={"file": path, "key": key},
                          fix=f"see the module docstring of harness.project; keys: "
                          f"{', '.join(sorted(_KEYS))}.")

    if not isinstance(table, dict):
        raise bad(TABLE, "a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise bad(unknown[0], f"one of {', '.join(sorted(_KEYS))} (unknown key)")
    if not isinstance(table.get("golden-dir", ""), str):
        raise bad("golden-dir", "a folder path (a string)")
    tutorials = table.get("tutorials", [])
    if not isinstance(tutorials, list) or not all(isinstance(t, str) for t in tutorials):
        raise bad("tutorials", 'a list of "module" or "module:attr" strings')
    data = table.get("data", {})
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise bad("data", "a table of data source name -> folder")


def importable(config: ProjectConfig) -> None:
    """Let the project's own tables import from its folder (as pytest's ``pythonpath``),
    for a project used from a checkout without being installed."""
    root = config.root
    if root is not None and str(root) not in sys.path:
        sys.path.insert(0, str(root))
