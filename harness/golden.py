"""The golden store: ``golden/<tutorial>/<port>/<profile>/{trajectory.csv,meta.json}``.

Plain text only (CSV + JSON, never pickle). Writes are atomic: each file goes to a temp
file in the same folder and is renamed into place, and ``meta.json`` (written last) holds
the SHA-256 of the CSV, so an interrupted or hand-edited golden is detected on read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import GoldenCorruptError, GoldenMissingError, SchemaVersionError
from harness.interface import Trajectory

SCHEMA_VERSION = 1
TRAJECTORY_FILE = "trajectory.csv"
META_FILE = "meta.json"
#: The seed envelope beside the single-seed golden (see harness/envelope.py).
ENVELOPE_FILE = "envelope.csv"
ENVELOPE_META_FILE = "envelope.json"
REQUIRED_META = ("schema_version", "port", "profile", "config_hash", "metrics", "timing",
                 "num_epochs", "trajectory_sha256")


def record_command(port_id: str, profile: str) -> str:
    return f"rnn-harness record {port_id} --profile {profile}"


def record_envelope_command(port_id: str, profile: str, seeds: int = 32) -> str:
    return f"rnn-harness record {port_id} --profile {profile} --seeds {seeds}"


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file and a rename (never half-written)."""
    _atomic_write(path, text)


def trajectory_to_csv(traj: Trajectory) -> str:
    """One row per epoch: ``epoch``, the metrics, then timing; floats in round-trip repr."""
    columns = [*traj.metrics, *traj.timing]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *columns])
    for i in range(traj.num_epochs):
        values = [traj.metrics.get(c, traj.timing.get(c)) for c in columns]
        writer.writerow([i, *(repr(float(v[i])) for v in values)])  # type: ignore[index]
    return out.getvalue()


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class GoldenStore:
    """Reads and writes goldens under ``root``."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def path(self, port_id: str, profile: str) -> Path:
        tutorial, _, port = port_id.partition("/")
        return self.root / tutorial / port / profile

    def exists(self, port_id: str, profile: str) -> bool:
        return (self.path(port_id, profile) / META_FILE).exists()

    def write(self, traj: Trajectory, *, obtained: bool = False) -> Path:
        """Write ``traj`` as the golden (or as ``*.obtained.*`` files beside it)."""
        folder = self.path(traj.port_id, traj.profile)
        folder.mkdir(parents=True, exist_ok=True)
        text = trajectory_to_csv(traj)
        meta = {
            "schema_version": SCHEMA_VERSION,
            **traj.meta,
            "port": traj.port_id,
            "profile": traj.profile,
            "metrics": list(traj.metrics),
            "timing": list(traj.timing),
            "num_epochs": traj.num_epochs,
            "outputs": traj.outputs,
            "trajectory_sha256": hashlib.sha256(text.encode()).hexdigest(),
        }
        csv_name, meta_name = TRAJECTORY_FILE, META_FILE
        if obtained:
            csv_name, meta_name = "trajectory.obtained.csv", "meta.obtained.json"
        _atomic_write(folder / csv_name, text)
        _atomic_write(folder / meta_name, json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return folder

    def read(self, port_id: str, profile: str) -> Trajectory:
        """Read and validate a golden; every defect raises a ``GoldenError`` that names the fix."""
        folder = self.path(port_id, profile)
        if not (folder / META_FILE).exists() or not (folder / TRAJECTORY_FILE).exists():
            raise GoldenMissingError(
                f"No golden is recorded for {port_id} with profile {profile!r}.",
                context={"looked in": folder},
                fix=f"record one on purpose: `{record_command(port_id, profile)}`, "
                "review it and commit it with a message saying why.",
                tutorial=port_id.split("/")[0], port=port_id, profile=profile,
            )
        meta = self._read_meta(folder / META_FILE, port_id, profile)
        text = (folder / TRAJECTORY_FILE).read_text(encoding="utf-8")
        metrics, timing = self._parse_csv(text, folder / TRAJECTORY_FILE, meta, port_id, profile)
        if hashlib.sha256(text.encode()).hexdigest() != meta["trajectory_sha256"]:
            raise self._corrupt(folder / TRAJECTORY_FILE, port_id, profile,
                                "its SHA-256 differs from the one meta.json recorded "
                                "(edited by hand, or written by an interrupted record)")
        return Trajectory(port_id, profile, metrics, timing, meta.get("outputs", {}), meta)

    def _corrupt(self, path: Path, port_id: str, profile: str, what: str) -> GoldenCorruptError:
        return GoldenCorruptError(
            f"The golden file {path.name} for {port_id} ({profile}) is unreadable: {what}.",
            context={"file": path},
            fix="restore it from git (`git checkout -- "
            f"{path.parent}`) or re-record it on purpose: `{record_command(port_id, profile)}`.",
            tutorial=port_id.split("/")[0], port=port_id, profile=profile,
        )

    def _read_meta(self, path: Path, port_id: str, profile: str) -> dict[str, Any]:
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise self._corrupt(path, port_id, profile,
                                f"invalid JSON at line {exc.lineno} column {exc.colno}") from None
        if not isinstance(meta, dict):
            raise self._corrupt(path, port_id, profile, "the top level is not a JSON object")
        version = meta.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SchemaVersionError(
                f"The golden {path.name} for {port_id} has schema version {version!r}; "
                f"this harness reads version {SCHEMA_VERSION}.",
                context={"file": path},
                fix="use the rnn-harness version that wrote it, or re-record it with this one: "
                f"`{record_command(port_id, profile)}`.",
                tutorial=port_id.split("/")[0], port=port_id, profile=profile,
            )
        missing = [k for k in REQUIRED_META if k not in meta]
        if missing:
            raise self._corrupt(path, port_id, profile, f"missing field(s) {', '.join(missing)}")
        return meta

    def _parse_csv(self, text: str, path: Path, meta: dict[str, Any], port_id: str,
                   profile: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        rows = list(csv.reader(io.StringIO(text)))
        header = ["epoch", *meta["metrics"], *meta["timing"]]
        if not rows or rows[0] != header:
            raise self._corrupt(path, port_id, profile,
                                f"header is {rows[0] if rows else 'missing'}, expected {header}")
        body = rows[1:]
        if len(body) != meta["num_epochs"]:
            raise self._corrupt(path, port_id, profile, f"{len(body)} rows where meta.json "
                                f"says {meta['num_epochs']} epochs (truncated?)")
        short = [i for i, row in enumerate(body, 2) if len(row) != len(header)]
        if short:
            raise self._corrupt(path, port_id, profile, f"line {short[0]} has "
                                f"{len(body[short[0] - 2])} fields, expected {len(header)}")
        bad = [i for i, row in enumerate(body, 2) if not _floats(row)]
        if bad:
            raise self._corrupt(path, port_id, profile,
                                f"line {bad[0]} holds a value that is not a number")
        table = np.array(body, dtype=np.float64).reshape(len(body), len(header))
        cols = {name: table[:, i] for i, name in enumerate(header)}
        return ({m: cols[m] for m in meta["metrics"]}, {t: cols[t] for t in meta["timing"]})


def _floats(row: list[str]) -> bool:
    try:
        [float(v) for v in row]
    except ValueError:
        return False
    return True
