"""Where the runs came from: the versions, threads and devices they recorded, and the
commands that remake them (one block per environment for a merged report)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.backends import FRAMEWORKS
from harness.corpus import ENV_VAR, FILENAME
from harness.registry import Registry
from harness.report._runs import RunSet
from harness.report._saved import SAVED_IN

if TYPE_CHECKING:
    import pandas as pd

REPORT_TOOLS = ("pandas", "matplotlib", "tabulate")


def git_commit() -> str:
    """``git describe --always --dirty`` of this checkout, or "unknown"."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def report_versions() -> dict[str, str]:
    """The versions of the report's own tools (the ``report`` extra)."""
    versions = {}
    for dist in REPORT_TOOLS:
        try:
            versions[f"report: {dist}"] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _flat(meta: Mapping[str, Any]) -> dict[str, str]:
    flat = {k: str(meta[k]) for k in ("python", "platform", "processor", "device") if k in meta}
    flat.update({f"version {k}": str(v) for k, v in meta.get("versions", {}).items() if v})
    flat.update({f"threads {k}": str(v) for k, v in meta.get("threads", {}).items()
                 if v is not None})
    return flat


def environment_table(runs: RunSet, extra: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Versions, threads and devices the runs recorded; a setting that differs between runs
    lists every value with the runs that had it (the most common one last)."""
    import pandas as pd

    seen: dict[str, dict[str, list[str]]] = {}
    for traj in [*runs.runs, *runs.transferred]:
        kind = " (transferred)" if traj.meta.get("reference_port") else ""
        for key, value in _flat(traj.meta).items():
            seen.setdefault(key, {}).setdefault(value, []).append(traj.port_id + kind)
    rows = [{"setting": k, "value": v} for k, v in (extra or {}).items()]
    for key, values in seen.items():
        ordered = sorted(values.items(), key=lambda kv: len(kv[1]))
        for i, (value, ports) in enumerate(ordered):
            where = ("" if len(values) == 1 else f" (the other {len(ports)} runs)"
                     if i == len(ordered) - 1 else f" ({', '.join(sorted(ports))})")
            rows.append({"setting": key, "value": value + where})
    return pd.DataFrame(rows, columns=["setting", "value"])


def _checkout_lines() -> list[str]:
    commit = git_commit()
    if not commit.endswith("-dirty"):
        return [f"git checkout {commit}"]
    return ["# the tree was DIRTY when this report was built: it held uncommitted changes,",
            "# so the commit below is only the closest one (it lacks those changes)",
            f"git checkout {commit.removesuffix('-dirty')}"]


def _data_lines(runs: RunSet, registry: Registry) -> list[str]:
    """How to point at the data folder, for the tutorials that read one (``needs_data``)."""
    tutorials = sorted({registry.get(p).tutorial for p in _port_ids(runs)
                        if registry.spec(registry.get(p).tutorial).needs_data})
    if not tutorials:
        return []
    return [f"# {', '.join(tutorials)} reads {FILENAME}: {ENV_VAR} names the FOLDER that "
            "holds it, not the file",
            f"export {ENV_VAR}=/absolute/path/of/the/folder/that/holds/the/corpus"]


def _port_ids(runs: RunSet) -> set[str]:
    return ({t.port_id for t in [*runs.runs, *runs.transferred]}
            | {f.port_id for f in runs.failures})


def _install_line(registry: Registry, port_ids: set[str]) -> str:
    extras = sorted({FRAMEWORKS[registry.get(p).framework].extra for p in port_ids} - {""})
    return f"python -m pip install -e '.[{','.join([*extras, 'report'])}]'"


def _check_lines(port_ids: set[str], profile: str, dev: str) -> list[str]:
    return [f"rnn-harness check {p} --profile {profile} {dev}" for p in sorted(port_ids)]


def reproduce_commands(runs: RunSet, registry: Registry) -> list[str]:
    """The exact commands that remake this report's runs and check them; a report merged
    from several environments gets one block per saved-runs folder."""
    devices = sorted({t.meta.get("device", "cpu") for t in runs.runs} or {"cpu"})
    dev = " ".join(f"--device {d}" for d in devices)
    lines = [*_checkout_lines(), *_data_lines(runs, registry)]
    if len(runs.sources) <= 1:
        ports = {t.port_id for t in runs.runs} | {f.port_id for f in runs.failures}
        lines += [_install_line(registry, ports),
                  runs.command or f"rnn-harness report {' '.join(sorted(ports))} --profile "
                  f"{runs.profile} {dev} --out report"]
        return lines + _check_lines(ports, runs.profile, dev)
    for number, source in enumerate(runs.sources, 1):
        mine = [t for t in [*runs.runs, *runs.transferred] if t.meta.get(SAVED_IN) == source.folder]
        ports = ({t.port_id for t in mine}
                 | {f.port_id for f in runs.failures if f.source == source.folder})
        # a follower's environment also needs its reference's framework (initial weights)
        references = {t.meta["reference_port"] for t in mine if t.meta.get("reference_port")}
        command = source.command or f"rnn-harness report {' '.join(sorted(ports))} " \
            f"--profile {runs.profile} {dev}"
        if "--save-runs" not in command:
            command += f" --save-runs {source.folder}"
        lines += ["", f"# environment {number} (its own virtual environment)",
                  _install_line(registry, ports | references), command,
                  *_check_lines(ports, runs.profile, dev)]
    folders = " ".join(f"--from-runs {s.folder}" for s in runs.sources)
    return lines + ["", "# then, in any environment with the report extra",
                    f"rnn-harness report {folders} --out report"]
