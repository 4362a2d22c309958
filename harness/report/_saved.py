"""Saved runs: write a ``RunSet`` as plain CSV + JSON, read it back, and merge the folders
saved in several environments (frameworks that cannot share a process) into one set."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.errors import GoldenMissingError, SavedRunsConflictError, UsageError
from harness.golden import META_FILE, GoldenStore
from harness.interface import Trajectory
from harness.report._runs import CROSS_DIR, RunFailure, RunSet, RunSource

INDEX_FILE = "failures.json"
#: ``Trajectory.meta`` key naming the saved-runs folder a run was read from (not saved).
SAVED_IN = "saved_in"


def _device_dir(device: str) -> str:
    return device.replace(":", "-")


def save_runs(runs: RunSet, folder: str | Path) -> Path:
    """Write every run as plain CSV + JSON (``GoldenStore`` format) under ``folder``:
    ``<device>/<tutorial>/<port>/<profile>/`` and ``<device>/cross_framework/...``."""
    root = Path(folder)
    for traj in runs.runs:
        GoldenStore(root / _device_dir(traj.meta["device"])).write(_unmarked(traj))
    for traj in runs.transferred:
        GoldenStore(root / _device_dir(traj.meta["device"]) / CROSS_DIR).write(_unmarked(traj))
    failures = [dataclasses.asdict(f) for f in runs.failures]
    root.mkdir(parents=True, exist_ok=True)
    index = {"profile": runs.profile, "command": runs.command, "failures": failures}
    (root / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return root


def _unmarked(traj: Trajectory) -> Trajectory:
    meta = {k: v for k, v in traj.meta.items() if k != SAVED_IN}
    return dataclasses.replace(traj, meta=meta)


def load_runs(folders: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> RunSet:
    """Read what ``save_runs`` wrote (every run is checked like a golden on read). Several
    folders, e.g. one per environment, are merged into one set (see ``merge_runs``)."""
    if isinstance(folders, (str, os.PathLike)):
        folders = [folders]
    sets = [_load_one(Path(f)) for f in folders]
    if not sets:
        raise UsageError("No saved-runs folder was given.", context={"--from-runs": None},
                         fix="pass --from-runs DIR once per folder saved with --save-runs.")
    return sets[0] if len(sets) == 1 else merge_runs(sets)


def _load_one(root: Path) -> RunSet:
    if not (root / INDEX_FILE).exists():
        raise GoldenMissingError(
            f"{root} holds no saved runs.",
            context={"looked for": root / INDEX_FILE},
            fix="save runs first: `rnn-harness report --save-runs DIR`, then pass that DIR "
            "to --from-runs.")
    index = json.loads((root / INDEX_FILE).read_text(encoding="utf-8"))
    failures = [dataclasses.replace(RunFailure(**f), source=str(root))
                for f in index["failures"]]
    command = index.get("command", "")
    runs = RunSet(index["profile"], failures=failures, command=command,
                  sources=[RunSource(str(root), command)])
    for meta_path in sorted(root.rglob(META_FILE)):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        traj = GoldenStore(meta_path.parents[3]).read(meta["port"], meta["profile"])
        traj.meta[SAVED_IN] = str(root)
        is_cross = meta_path.parents[3].name == CROSS_DIR
        (runs.transferred if is_cross else runs.runs).append(traj)
    return runs


def merge_runs(sets: Sequence[RunSet]) -> RunSet:
    """One set from several (each typically saved in its own environment).

    The same port x device saved twice is kept once when both runs agree bit for bit
    (seed, config and every metric), and refused otherwise, naming both folders. A
    failure is listed with its folder; a run of the same port x device from another
    folder still gives that port its row.
    """
    profiles = {s.profile for s in sets}
    if len(profiles) > 1:
        raise SavedRunsConflictError(
            "The saved-runs folders hold different profiles; one report covers one profile.",
            context={s.sources[0].folder if s.sources else "(trained here)": s.profile
                     for s in sets},
            fix="pass folders saved with the same --profile.")
    merged = RunSet(sets[0].profile, sources=[src for s in sets for src in s.sources])
    merged.command = "\n".join(s.command for s in sets if s.command)
    for s in sets:
        merged.runs += _new_runs(merged.runs, s.runs)
        merged.transferred += _new_runs(merged.transferred, s.transferred)
        merged.failures += [f for f in s.failures if f not in merged.failures]
    return merged


def _key(traj: Trajectory) -> tuple[str, str, str]:
    return traj.port_id, str(traj.meta.get("device")), str(traj.meta.get("reference_port", ""))


def _new_runs(have: list[Trajectory], incoming: list[Trajectory]) -> list[Trajectory]:
    """``incoming`` minus the runs ``have`` already holds; a clash that disagrees raises."""
    by_key = {_key(t): t for t in have}
    new = []
    for traj in incoming:
        old = by_key.get(_key(traj))
        if old is None:
            by_key[_key(traj)] = traj
            new.append(traj)
            continue
        difference = _difference(old, traj)
        if difference:
            raise _conflict(old, traj, difference)
    return new


def _difference(a: Trajectory, b: Trajectory) -> dict[str, object]:
    """Why two saved runs of one port x device are not the same run (empty: they are)."""
    for key in ("seed", "config_hash", "initial_params"):
        if a.meta.get(key) != b.meta.get(key):
            return {key: f"{a.meta.get(key)} vs {b.meta.get(key)}"}
    if list(a.metrics) != list(b.metrics):
        return {"metrics": f"{list(a.metrics)} vs {list(b.metrics)}"}
    for metric, values in a.metrics.items():
        other = b.metrics[metric]
        if len(values) != len(other):
            return {"epochs": f"{len(values)} vs {len(other)}"}
        differs = np.flatnonzero(~((values == other) | (np.isnan(values) & np.isnan(other))))
        if differs.size:
            epoch = int(differs[0])
            return {"metric": metric, "first different epoch": epoch,
                    "values": f"{float(values[epoch])!r} vs {float(other[epoch])!r}"}
    return {}


def _conflict(a: Trajectory, b: Trajectory, difference: dict[str, object]
              ) -> SavedRunsConflictError:
    kind = f"transferred from {a.meta['reference_port']}" if a.meta.get("reference_port") \
        else "run"
    return SavedRunsConflictError(
        f"Two saved-runs folders hold different runs of {a.port_id} on "
        f"{a.meta.get('device')} ({kind}); a merged report needs one.",
        context={"first folder": a.meta.get(SAVED_IN), "second folder": b.meta.get(SAVED_IN),
                 **difference},
        fix="the environments disagree (versions? threads?): compare the two folders' "
        "meta.json, then keep that port in one folder only (re-save the other without it) "
        "or find why the same seed gives different numbers.",
        port=a.port_id, profile=a.profile)
