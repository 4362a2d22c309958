"""The one file format of the golden store: a data file (CSV text, or a compressed NPZ of
float arrays) beside a JSON meta file that holds its schema version and SHA-256.

Writes are atomic (a temp file in the same folder, then a rename), with the mode the
umask gives, and the meta file is written last, so a reader that verifies the SHA-256
detects a hand-edited or half-written pair (a golden as a whole changes through ``_swap``).
Reads refuse a file past its kind's size limit (or a folder where the file belongs) before
reading it, and a JSON file nested too deep to parse, and verify the SHA-256 before
decoding anything. Never pickle: NPZ members are plain numeric arrays, read with
``allow_pickle=False``.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from harness.errors import (
    GoldenCorruptError,
    GoldenMissingError,
    GoldenTooLargeError,
    SchemaVersionError,
)

T = TypeVar("T")

#: Every zip member gets this timestamp, so equal arrays always encode to equal bytes
#: (git then stores a ci and a tutorial golden's identical initial weights once).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

MB = 1 << 20
#: The largest file of each kind the store reads. The largest committed ones are far below:
#: a meta 12 KB, a CSV 70 KB, an NPZ 1.1 MB (char_rnn's initial weights); a file past its
#: limit is refused before it is read (a 200 MB meta.json once took 747 MB of memory).
SIZE_LIMITS = {".json": 1 * MB, ".csv": 64 * MB, ".npz": 256 * MB}


@dataclass(frozen=True)
class FileKind:
    """One kind of data + meta pair: its file names, the meta key holding the data's
    SHA-256, the meta fields a reader requires, and the schema version it reads."""

    noun: str
    data: str
    meta: str
    sha_key: str
    required: tuple[str, ...] = ()
    schema: int = 1

    def tagged(self, tag: str) -> FileKind:
        """The same kind under other names, ``trajectory.<tag>.csv`` (obtained files)."""
        def name(file: str) -> str:
            stem, dot, ext = file.rpartition(".")
            return f"{stem}.{tag}{dot}{ext}"
        return FileKind(self.noun, name(self.data), name(self.meta), self.sha_key,
                        self.required, self.schema)


@dataclass(frozen=True)
class Where:
    """Whose file it is, for error messages: the port, the profile and the command that
    (re)writes it."""

    port_id: str
    profile: str
    record: str

    def _ids(self) -> dict[str, str]:
        return {"tutorial": self.port_id.split("/")[0], "port": self.port_id,
                "profile": self.profile}

    def missing(self, kind: FileKind, folder: Path) -> GoldenMissingError:
        return GoldenMissingError(
            f"No {kind.noun} is recorded for {self.port_id} with profile {self.profile!r}.",
            context={"looked in": folder},
            fix=f"record one on purpose: `{self.record}`, review it and commit it with a "
            "message saying why.", **self._ids())

    def corrupt(self, path: Path, kind: FileKind, what: str) -> GoldenCorruptError:
        return GoldenCorruptError(
            f"The {_file(kind)} {path.name} for {self.port_id} ({self.profile}) is "
            f"unreadable: {what}.",
            context={"file": path},
            fix=f"restore it from git (`git checkout -- {path.parent}`) or re-record it on "
            f"purpose: `{self.record}`.", **self._ids())

    def too_large(self, path: Path, kind: FileKind, size: int, limit: int
                  ) -> GoldenTooLargeError:
        return GoldenTooLargeError(
            f"The {_file(kind)} {path.name} for {self.port_id} ({self.profile}) is "
            f"{size / MB:.1f} MB, past the store's limit of {limit / MB:.0f} MB for "
            f"{path.suffix} files; it was not read.",
            context={"file": path, "size": f"{size} bytes", "limit": f"{limit} bytes"},
            fix=f"restore it from git (`git checkout -- {path.parent}`) or re-record it on "
            f"purpose: `{self.record}`.", **self._ids())

    def schema(self, path: Path, kind: FileKind, version: object) -> SchemaVersionError:
        return SchemaVersionError(
            f"The {kind.noun} {path.name} for {self.port_id} has schema version {version!r}; "
            f"this harness reads version {kind.schema}.",
            context={"file": path},
            fix="use the rnn-harness version that wrote it, or re-record it with this one: "
            f"`{self.record}`.", **self._ids())


def _file(kind: FileKind) -> str:
    return kind.noun if kind.noun.endswith("file") else f"{kind.noun} file"


# ---------------------------------------------------------------- encoding


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def meta_text(meta: Mapping[str, Any]) -> str:
    """Sorted keys, two-space indent, one trailing newline: stable, reviewable diffs."""
    return json.dumps(meta, indent=2, sort_keys=True) + "\n"


def csv_text(columns: Mapping[str, np.ndarray], rows: int) -> str:
    """``epoch`` then one column per entry, one row per epoch, floats in round-trip repr."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *columns])
    for i in range(rows):
        writer.writerow([i, *(repr(float(v[i])) for v in columns.values())])
    return out.getvalue()


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """A compressed NPZ with fixed member timestamps (the same arrays, the same bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, value in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue(), compresslevel=9)
    return buf.getvalue()


def encode(kind: FileKind, data: str | bytes, meta: Mapping[str, Any]) -> tuple[bytes, str]:
    """(data bytes, meta text) with the schema version and the data's SHA-256 set."""
    raw = data.encode() if isinstance(data, str) else data
    full = {**meta, "schema_version": kind.schema, kind.sha_key: sha256(raw)}
    return raw, meta_text(full)


def write(folder: Path, kind: FileKind, data: str | bytes, meta: Mapping[str, Any]) -> Path:
    """Write the pair atomically, the data first and the meta (holding its SHA-256) last."""
    raw, text = encode(kind, data, meta)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / kind.data, raw)
    atomic_write(folder / kind.meta, text.encode())
    return folder


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file and a rename (never half-written)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~umask())  # mkstemp's 0600 would ignore the user's umask
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def umask() -> int:
    """This process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------- decoding


def exists(folder: Path, kind: FileKind) -> bool:
    return (folder / kind.meta).exists() and (folder / kind.data).exists()


def read(folder: Path, kind: FileKind, where: Where, decode: Callable[[bytes, dict[str, Any]], T]
         ) -> tuple[T, dict[str, Any]]:
    """The verified (decoded data, meta): present, JSON, known schema, required fields,
    matching SHA-256, decodable. Every defect raises a ``GoldenError`` naming the fix.
    The checksum is verified before ``decode`` runs, so a flipped byte never reaches a
    decompressor; a CSV that fails it is still parsed, to name its bad line."""
    meta, raw = _verified(folder, kind, where, decode)
    return decode(raw, meta), meta


def verify(folder: Path, kind: FileKind, where: Where) -> dict[str, Any]:
    """The meta of a pair whose data matches its SHA-256 (hashed, never decoded)."""
    return _verified(folder, kind, where)[0]


def _verified(folder: Path, kind: FileKind, where: Where,
              decode: Callable[[bytes, dict[str, Any]], object] | None = None
              ) -> tuple[dict[str, Any], bytes]:
    if not exists(folder, kind):
        raise where.missing(kind, folder)
    meta = _read_meta(folder / kind.meta, kind, where)
    path = folder / kind.data
    raw = read_limited(path, kind, where)
    if sha256(raw) != meta[kind.sha_key]:
        if decode is not None and path.suffix == ".csv":
            with contextlib.suppress(UnicodeDecodeError):
                decode(raw, meta)  # a garbled line raises naming it, before the checksum does
        raise where.corrupt(path, kind, f"its SHA-256 differs from the one {kind.meta} "
                            "recorded (a changed byte, edited by hand, or written by an "
                            "interrupted record)")
    return meta, raw


def _read_meta(path: Path, kind: FileKind, where: Where) -> dict[str, Any]:
    text = read_limited(path, kind, where).decode("utf-8", errors="replace")
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise where.corrupt(path, kind, f"invalid JSON at line {exc.lineno} column "
                            f"{exc.colno}") from None
    except RecursionError:
        raise where.corrupt(path, kind, "JSON nested too deep to parse") from None
    if not isinstance(meta, dict):
        raise where.corrupt(path, kind, "the top level is not a JSON object")
    if meta.get("schema_version") != kind.schema:
        raise where.schema(path, kind, meta.get("schema_version"))
    missing = [k for k in (*kind.required, kind.sha_key) if k not in meta]
    if missing:
        raise where.corrupt(path, kind, f"missing field(s) {', '.join(missing)}")
    return meta


def read_limited(path: Path, kind: FileKind, where: Where) -> bytes:
    """The file's bytes, refused unread when it is past its kind's size limit or is not a
    regular file (a folder where the file belongs)."""
    limit = SIZE_LIMITS.get(path.suffix, SIZE_LIMITS[".npz"])
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            what = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise where.corrupt(path, kind, f"{path} is {what}, not a file")
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                raise where.too_large(path, kind, size, limit)
            # at most one byte past what fstat saw (a file growing meanwhile fails its
            # checksum); asking for the limit instead allocates it, 4x slower per file
            return fh.read(size + 1)
    except OSError as exc:
        raise where.corrupt(path, kind, f"it cannot be read ({exc.strerror or exc})") from None


def csv_columns(text: str, header: Sequence[str], rows: int, path: Path, kind: FileKind,
                where: Where) -> dict[str, np.ndarray]:
    """The columns of ``csv_text`` output, checked against the header and row count the
    meta file states."""
    table = list(csv.reader(io.StringIO(text)))
    if not table or table[0] != list(header):
        raise where.corrupt(path, kind, f"header is {table[0] if table else 'missing'}, "
                            f"expected {list(header)}")
    body = table[1:]
    if len(body) != rows:
        raise where.corrupt(path, kind, f"{len(body)} rows where {kind.meta} says {rows} "
                            "epochs (truncated?)")
    for line, row in enumerate(body, 2):
        if len(row) != len(header):
            raise where.corrupt(path, kind, f"line {line} has {len(row)} fields, expected "
                                f"{len(header)}")
        if not _floats(row):
            raise where.corrupt(path, kind, f"line {line} holds a value that is not a number")
    values = np.array(body, dtype=np.float64).reshape(len(body), len(header))
    return {name: values[:, i] for i, name in enumerate(header)}


def _floats(row: list[str]) -> bool:
    try:
        [float(v) for v in row]
    except ValueError:
        return False
    return True


def npz_arrays(raw: bytes, path: Path, kind: FileKind, where: Where) -> dict[str, np.ndarray]:
    """The arrays of an NPZ, never unpickling anything."""
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    # a checksum-verified file decodes; these guard one whose meta was rewritten to match
    except (ValueError, OSError, EOFError, NotImplementedError, zipfile.BadZipFile,
            zlib.error) as exc:
        raise where.corrupt(path, kind, f"not a plain-array NPZ ({exc})") from None
