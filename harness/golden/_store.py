"""The golden store: ``golden/<tutorial>/<port>/<profile>/`` holding the trajectory
(``trajectory.csv`` + ``meta.json``), the initial weights it was trained from
(``initial_params.npz`` + ``.json``) and, where recorded, a seed envelope. Every file
pair goes through the one codec (``_codec``); a golden folder changes as a whole, under a
lock (``_swap``), and only at a path inside the store (no link on the way leads out).
Reading a golden verifies the checksum of every file in its folder."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import GoldenMissingError, GoldenStoreError, UnsafePathError
from harness.golden import _codec, _swap
from harness.golden._codec import FileKind, Where
from harness.interface import Trajectory

TRAJECTORY = FileKind("golden", "trajectory.csv", "meta.json", "trajectory_sha256",
                      ("port", "profile", "config_hash", "metrics", "timing", "num_epochs"))
INITIAL = FileKind("initial-weights file", "initial_params.npz", "initial_params.json",
                   "params_sha256", ("port", "profile", "seed", "config_hash", "params"))
SCHEMA_VERSION = TRAJECTORY.schema
TRAJECTORY_FILE, META_FILE = TRAJECTORY.data, TRAJECTORY.meta
INITIAL_FILE, INITIAL_META_FILE = INITIAL.data, INITIAL.meta
#: Written beside the golden when a check fails (git-ignored ``*.obtained.*``).
OBTAINED = "obtained"
#: Canonical initial weights are stored as float32 (every port trains in float32).
INITIAL_DTYPE = np.float32
#: The variable that names the store (read by ``_gate.default_golden_dir``), for messages.
STORE_ENV = "RNN_HARNESS_GOLDEN"


def record_command(port_id: str, profile: str) -> str:
    return f"rnn-harness record {port_id} --profile {profile}"


def record_initial_command(port_id: str, profile: str) -> str:
    return f"rnn-harness record {port_id} --profile {profile} --initial-only"


def trajectory_files(traj: Trajectory) -> tuple[str, dict[str, Any]]:
    """(CSV text, meta) of ``traj`` as a golden: metrics then timing, one row per epoch."""
    columns = {**traj.metrics, **traj.timing}
    meta = {**traj.meta, "port": traj.port_id, "profile": traj.profile,
            "metrics": list(traj.metrics), "timing": list(traj.timing),
            "num_epochs": traj.num_epochs, "outputs": traj.outputs}
    return _codec.csv_text(columns, traj.num_epochs), meta


def initial_files(port_id: str, profile: str, params: Mapping[str, np.ndarray],
                  meta: Mapping[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """(NPZ bytes, meta) of canonical initial weights, cast to float32. ``exact`` says
    whether the cast lost nothing (false for a float64 model)."""
    cast = {name: np.asarray(v).astype(INITIAL_DTYPE) for name, v in params.items()}
    exact = all(np.array_equal(cast[n], np.asarray(v)) for n, v in params.items())
    full = {**meta, "port": port_id, "profile": profile, "dtype": np.dtype(INITIAL_DTYPE).name,
            "exact": exact, "params": {n: list(v.shape) for n, v in cast.items()}}
    return _codec.npz_bytes(cast), full


def write_trajectory(folder: Path, traj: Trajectory) -> Path:
    """Write ``traj``'s golden pair into ``folder`` (a staged golden folder)."""
    text, meta = trajectory_files(traj)
    return _codec.write(folder, TRAJECTORY, text, meta)


def write_initial(folder: Path, port_id: str, profile: str, params: Mapping[str, np.ndarray],
                  meta: Mapping[str, Any]) -> Path:
    """Write the initial-weights pair into ``folder`` (a staged golden folder)."""
    raw, full = initial_files(port_id, profile, params, meta)
    return _codec.write(folder, INITIAL, raw, full)


def _ids(port_id: str, profile: str) -> dict[str, str]:
    return {"tutorial": port_id.partition("/")[0], "port": port_id, "profile": profile}


def _check_part(what: str, part: str, port_id: str, profile: str) -> None:
    bad = (not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part
           or Path(part).is_absolute() or part.startswith("."))
    if bad:
        raise UnsafePathError(
            f"The {what} {part!r} is not a plain folder name, so its golden would lie outside "
            "the store; nothing was read or written.",
            context={"port id": port_id, "profile": profile, "rule": "a non-empty name "
                     "without '/', '\\' or a leading '.'"},
            fix="register the port (tutorial, framework, variant) and its profiles under plain "
            "names such as 'my_sine', 'numpy' and 'ci'.")


def _check_links(root: Path, path: Path, port_id: str, profile: str) -> None:
    """Refuse a golden folder reached through a link that leads out of the store: a record
    would replace the link by a real folder, and a check would judge files the store does
    not hold. A store that is itself a link is fine (its target is the store)."""
    inside = Path(os.path.realpath(root))
    for level in (path.parent.parent, path.parent, path):
        if not level.is_symlink():
            continue
        target = Path(os.path.realpath(level))
        if not target.is_relative_to(inside):
            raise UnsafePathError(
                f"The golden folder {path} leads out of the store through the link {level}; "
                "nothing was read or written.",
                context={"link": level, "points to": target, "store": root},
                fix=f"keep goldens inside the store: replace the link by the folder it points "
                f"to (`rm {level} && cp -a {target} {level}`), or pass --golden-dir (or set "
                f"${STORE_ENV}) to the store that holds it.", **_ids(port_id, profile))


def store_missing(root: Path, port_id: str, profile: str
                  ) -> GoldenMissingError | GoldenStoreError:
    """The error for a store root that does not exist (nothing is recorded there: a
    ``GoldenMissingError`` that says so) or is a file (a ``GoldenStoreError``)."""
    named = os.environ.get(STORE_ENV)
    source = (f"${STORE_ENV}" if named and Path(named).resolve() == root.resolve()
              else f"--golden-dir, ${STORE_ENV} or the default")
    where = (f"point --golden-dir (or ${STORE_ENV}) at the folder that holds the goldens, or "
             f"unset ${STORE_ENV} to use the repository's golden/")
    context = {"store": root, "named by": source}
    if root.exists():
        return GoldenStoreError(
            f"The golden store {root} is a file, not a folder: no golden can be read from "
            "it or written to it.", context=context, fix=f"{where}.", **_ids(port_id, profile))
    return GoldenMissingError(
        f"The golden store {root} does not exist, so no golden of {port_id} ({profile}) is "
        "recorded there.", context=context,
        fix=f"{where}; to start a store there, record one on purpose (with the same store): "
        f"`{record_command(port_id, profile)}`.", **_ids(port_id, profile))


#: The device kind whose goldens sit in the plain profile folder (every other kind's
#: sit beside it, ``<profile>@<kind>``, e.g. ``ci@cuda-sm90``).
CPU_KIND = "cpu"
KIND_SEPARATOR = "@"


class GoldenStore:
    """Reads and writes the goldens under ``root``, of one device kind: ``cpu`` (the
    default) in ``<tutorial>/<port>/<profile>/``, any other (``cuda-sm90``...) beside it in
    ``<profile>@<kind>/``, as Megatron-LM keeps golden values per GPU type."""

    def __init__(self, root: str | os.PathLike[str], kind: str = CPU_KIND):
        self.root = Path(root)
        _check_part("device kind", kind, "", "")
        self.kind = kind

    def of_kind(self, kind: str) -> GoldenStore:
        """The same store, for ``kind``'s goldens."""
        return GoldenStore(self.root, kind)

    def kinds(self, port_id: str, profile: str) -> list[str]:
        """The device kinds with a recorded golden of ``port_id`` at ``profile``, ``cpu``
        first."""
        found = [k for k in self._all_kinds(port_id, profile)
                 if self.of_kind(k).exists(port_id, profile)]
        return sorted(found, key=lambda k: (k != CPU_KIND, k))

    def _all_kinds(self, port_id: str, profile: str) -> list[str]:
        folder = self.of_kind(CPU_KIND).path(port_id, profile)
        if not folder.parent.is_dir():
            return []
        prefix = profile + KIND_SEPARATOR
        return [CPU_KIND, *(p.name[len(prefix):] for p in folder.parent.iterdir()
                            if p.is_dir() and p.name.startswith(prefix) and "." not in p.name)]

    def path(self, port_id: str, profile: str) -> Path:
        """``<root>/<tutorial>/<port>/<profile>`` (``<profile>@<kind>`` for a device kind
        other than cpu); refused unless each part is one plain folder name and no link on the
        way leads out of the store."""
        tutorial, _, port = port_id.partition("/")
        for what, part in (("tutorial", tutorial), ("port", port), ("profile", profile)):
            _check_part(what, part, port_id, profile)
        folder = profile if self.kind == CPU_KIND else f"{profile}{KIND_SEPARATOR}{self.kind}"
        path = self.root / tutorial / port / folder
        _check_links(self.root, path, port_id, profile)
        return path

    def live(self, port_id: str, profile: str) -> Path:
        """The folder readers use: the golden's, or the old golden a record cut off in the
        middle of replacing it had moved aside. A store that is missing or is a file is
        refused as such (not as one golden that is not recorded)."""
        if not self.root.is_dir():
            raise store_missing(self.root, port_id, profile)
        return _swap.live(self.path(port_id, profile))

    def exists(self, port_id: str, profile: str, kind: FileKind = TRAJECTORY) -> bool:
        """Whether the golden is recorded (false in a store that does not exist yet, which
        a record creates)."""
        return _codec.exists(_swap.live(self.path(port_id, profile)), kind)

    def locked(self, port_id: str, profile: str) -> contextlib.AbstractContextManager[None]:
        """Hold the golden's write lock (another process holding it is refused); ``record``
        holds it from before training until the new golden is in place."""
        return _swap.locked(self.path(port_id, profile), _ids(port_id, profile))

    def recover(self, port_id: str, profile: str) -> list[str]:
        """Undo what a cut-off record left beside the golden (hold ``locked`` first):
        returns a note for each thing restored or removed."""
        return _swap.recover(self.path(port_id, profile))

    def replacing(self, port_id: str, profile: str,
                  notes: Callable[[str], None] | None = None
                  ) -> contextlib.AbstractContextManager[Path]:
        """A staged copy of the golden folder to write into; it replaces the golden as a
        whole when the block ends without an error (``notes`` hears about leftovers of a
        cut-off record that were cleaned up first)."""
        return _swap.replacing(self.path(port_id, profile), _ids(port_id, profile), notes)

    def write(self, traj: Trajectory, *, obtained: bool = False, tag: str = "") -> Path:
        """Write ``traj`` as the golden, or as ``*.obtained.*`` files beside it (``tag``
        names a variant of those, e.g. ``against-mxnet``)."""
        if obtained:
            text, meta = trajectory_files(traj)
            kind = TRAJECTORY.tagged(f"{tag}.{OBTAINED}" if tag else OBTAINED)
            folder = _swap.live(self.path(traj.port_id, traj.profile))
            return _codec.write(folder, kind, text, meta)
        with self.replacing(traj.port_id, traj.profile) as staged:
            write_trajectory(staged, traj)
        return self.path(traj.port_id, traj.profile)

    def read(self, port_id: str, profile: str) -> Trajectory:
        """Read and verify a golden, and the checksum of every file beside it (see
        ``verify``); every defect raises a ``GoldenError`` naming the file and the fix."""
        folder = self.live(port_id, profile)
        where = Where(port_id, profile, record_command(port_id, profile))

        def decode(raw: bytes, meta: dict[str, Any]) -> dict[str, np.ndarray]:
            header = ["epoch", *meta["metrics"], *meta["timing"]]
            return _codec.csv_columns(raw.decode("utf-8"), header, meta["num_epochs"],
                                      folder / TRAJECTORY.data, TRAJECTORY, where)

        cols, meta = _codec.read(folder, TRAJECTORY, where, decode)
        self.verify(port_id, profile)
        return Trajectory(port_id, profile, {m: cols[m] for m in meta["metrics"]},
                          {t: cols[t] for t in meta["timing"]}, meta.get("outputs", {}), meta)

    def verify(self, port_id: str, profile: str) -> None:
        """Verify the SHA-256 of every other pair in the golden folder (initial weights,
        envelope, checkpoint segments) against its meta: hashed, never decoded, so a broken
        file a check relies on fails before any training, naming the file. Skipped while
        this process holds the golden's write lock: it is replacing those files, and a
        broken one must not stop the record that repairs it."""
        if _swap.holding(self.path(port_id, profile)):
            return
        folder = self.live(port_id, profile)
        for sub, kind, command in _pairs_beside(folder, port_id, profile):
            # a pair not (fully) there is not checked here: the reader that needs it says
            # it is missing and names ``command``
            if _codec.exists(sub, kind):
                _codec.verify(sub, kind, Where(port_id, profile, command))

    def write_initial(self, port_id: str, profile: str, params: Mapping[str, np.ndarray],
                      meta: Mapping[str, Any]) -> Path:
        """Write the canonical initial weights a golden was trained from."""
        with self.replacing(port_id, profile) as staged:
            write_initial(staged, port_id, profile, params, meta)
        return self.path(port_id, profile)

    def read_initial(self, port_id: str, profile: str) -> tuple[dict[str, np.ndarray],
                                                                dict[str, Any]]:
        """The verified initial weights (canonical names, float32) and their meta."""
        folder = self.live(port_id, profile)
        where = Where(port_id, profile, record_initial_command(port_id, profile))

        def decode(raw: bytes, meta: dict[str, Any]) -> dict[str, np.ndarray]:
            arrays = _codec.npz_arrays(raw, folder / INITIAL.data, INITIAL, where)
            shapes = {n: list(v.shape) for n, v in arrays.items()}
            if shapes != meta["params"]:
                raise where.corrupt(folder / INITIAL.data, INITIAL,
                                    f"it holds {shapes}, {INITIAL.meta} lists {meta['params']}")
            odd = sorted(n for n, v in arrays.items() if v.dtype != INITIAL_DTYPE)
            if odd:
                raise where.corrupt(folder / INITIAL.data, INITIAL, f"{', '.join(odd)} not "
                                    f"stored as {np.dtype(INITIAL_DTYPE).name}")
            return arrays

        return _codec.read(folder, INITIAL, where, decode)


def _pairs_beside(folder: Path, port_id: str, profile: str
                  ) -> Iterator[tuple[Path, FileKind, str]]:
    """(folder, kind, the command that re-records it) of each pair a golden folder may hold
    beside its trajectory. Imported here: those modules build on the store."""
    from harness.golden._envelope import ENVELOPE, record_envelope_command
    from harness.golden._segments import SEGMENT_KINDS, record_segments_command, segment_folders

    yield folder, INITIAL, record_initial_command(port_id, profile)
    yield folder, ENVELOPE, record_envelope_command(port_id, profile)
    for sub in segment_folders(folder):
        for kind in SEGMENT_KINDS:
            yield sub, kind, record_segments_command(port_id)
