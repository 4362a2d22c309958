"""How a golden folder changes: under a lock, as a whole. A writer stages the complete new
folder beside the old one (``<profile>.tmp-<pid>``), then swaps with two renames (old ->
``<profile>.old-<pid>``, staged -> final) and removes the old one, so a reader sees the old
golden or the new one, never a mix. A writer cut off between the renames leaves the old
folder under its ``.old-`` name: readers use it, and the next writer renames it back.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from harness.errors import GoldenLockedError, GoldenWriteError, UnsafePathError

STAGED = ".tmp-"
RETIRED = ".old-"
#: lock files held by this process -> how deep; a writer inside a writer (``record`` then its
#: transaction) re-enters its own lock instead of refusing itself
_held: dict[Path, int] = {}

Ids = dict[str, str]


def lock_path(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.lock")


def holding(folder: Path) -> bool:
    """Whether this process holds the write lock of ``folder`` (it is rewriting it)."""
    return lock_path(folder) in _held


def leftovers(folder: Path) -> list[Path]:
    """Folders a cut-off writer left beside ``folder`` (staged and retired copies)."""
    if not folder.parent.is_dir():
        return []
    return sorted(p for p in folder.parent.iterdir()
                  if p.name.startswith((folder.name + STAGED, folder.name + RETIRED)))


def live(folder: Path) -> Path:
    """The folder a reader uses: ``folder``, or, where a writer was cut off between its
    two renames, the old golden it had moved aside (complete, as it was)."""
    if folder.is_dir():
        return folder
    retired = [p for p in leftovers(folder) if RETIRED in p.name[len(folder.name):]]
    return max(retired, key=lambda p: p.stat().st_mtime) if retired else folder


@contextlib.contextmanager
def locked(folder: Path, ids: Ids) -> Iterator[None]:
    """Hold the write lock of ``folder`` (``flock`` on ``.<profile>.lock`` beside it);
    another process holding it is refused at once, naming its pid."""
    lock = lock_path(folder)
    if lock in _held:
        _held[lock] += 1
        try:
            yield
        finally:
            _held[lock] -= 1
        return
    created = _missing_folders(lock.parent)
    fd = _acquire(lock, folder, ids)
    _held[lock] = 1
    try:
        yield
    finally:
        del _held[lock]
        # unlinked before the unlock: a process that opened the old file sees, after it
        # gets the lock, that the path is gone or new, and starts again (see _acquire)
        lock.unlink(missing_ok=True)
        os.close(fd)
        for made in created:  # a refused record leaves no empty port folder behind
            try:
                made.rmdir()
            except OSError:  # not empty (a golden was written) or already gone
                break


def _missing_folders(path: Path) -> list[Path]:
    """``path`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    while not path.exists() and path.parent != path:
        missing.append(path)
        path = path.parent
    return missing


def _acquire(lock: Path, folder: Path, ids: Ids) -> int:
    _mkdirs(lock.parent, folder, ids)
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise _write_error(exc, folder, ids) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise GoldenLockedError(
                f"The golden {folder.name!r} of {ids['port']} is being written by another "
                f"process (pid {holder}).",
                context={"folder": folder, "lock": lock, "holder pid": holder},
                fix="wait for that record (or pytest --update-golden) to finish and run this "
                f"one again; if pid {holder} no longer exists, the lock was released with it.",
                **ids) from None
        if _same_file(fd, lock):
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            except OSError as exc:  # a full disk: no lock is left behind, nothing changed
                lock.unlink(missing_ok=True)
                os.close(fd)
                raise _write_error(exc, folder, ids) from None
            return fd
        os.close(fd)  # the holder removed the file as we opened it: take the new one


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def replacing(folder: Path, ids: Ids, notes: Callable[[str], None] | None = None
              ) -> Iterator[Path]:
    """Yield a staged copy of ``folder`` to change; on a clean exit it replaces ``folder``
    as a whole. On an error the staged copy is removed and ``folder`` is as it was (an
    error after the new folder is in place says so instead)."""
    _refuse_link(folder, ids)
    with locked(folder, ids):
        for note in recover(folder):
            if notes is not None:
                notes(note)
        staged = folder.with_name(f"{folder.name}{STAGED}{os.getpid()}")
        try:
            _stage(folder, staged)
            yield staged
            _swap(folder, staged, ids)
        except OSError as exc:
            shutil.rmtree(staged, ignore_errors=True)
            raise _write_error(exc, folder, ids) from exc
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise


def _refuse_link(folder: Path, ids: Ids) -> None:
    """A golden folder that is a link cannot be replaced as a whole: the swap's renames
    would replace the link by a real folder and leave the link aside."""
    if folder.is_symlink():
        raise UnsafePathError(
            f"The golden folder {folder} is a link; a record replaces a golden folder as a "
            "whole by renames, which would replace the link, not write through it. Nothing "
            "was written.", context={"link": folder, "points to": os.readlink(folder)},
            fix=f"replace the link by the folder it points to (`rm {folder} && cp -a "
            f"{os.path.realpath(folder)} {folder}`), then record again.", **ids)


def recover(folder: Path) -> list[str]:
    """Undo what a cut-off writer left (call it holding the lock, so that writer is gone):
    a golden it had moved aside is renamed back; staged and retired copies are removed."""
    notes = []
    if not folder.exists():
        aside = live(folder)
        if aside != folder:
            try:
                os.rename(aside, folder)
            except OSError as exc:
                return [f"could not restore {folder} from {aside.name} ({exc.strerror}); "
                        "readers use the latter"]
            notes.append(f"restored {folder} from {aside.name}, left by a record that was cut "
                         "off while replacing it")
    for path in leftovers(folder):
        shutil.rmtree(path, ignore_errors=True)
        notes.append(f"removed {path.name}, left beside {folder} by a record that was cut off")
    return notes


def _stage(folder: Path, staged: Path) -> None:
    """``staged``: the current folder's files (hard links: nothing is written in place, every
    file is replaced through a rename) or, for a new golden, an empty folder."""
    if folder.is_dir():
        shutil.copytree(folder, staged, copy_function=_link_or_copy)
    else:
        staged.mkdir(parents=True)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _swap(folder: Path, staged: Path, ids: Ids) -> None:
    """Put ``staged`` in ``folder``'s place. An ``OSError`` it raises means the golden is
    unchanged; once the new folder is in place, a failure raises a ``GoldenWriteError``
    that says so."""
    _fsync_dir(staged)
    if not folder.exists():
        os.rename(staged, folder)
        retired = None
    else:
        retired = folder.with_name(f"{folder.name}{RETIRED}{os.getpid()}")
        os.rename(folder, retired)
        try:
            os.rename(staged, folder)
        except OSError as exc:
            _put_back(retired, folder, exc, ids)
            raise
    try:
        if retired is not None:
            shutil.rmtree(retired)
        _fsync_dir(folder.parent)
    except OSError as exc:
        raise _after_swap_error(exc, folder, retired, ids) from exc


def _put_back(retired: Path, folder: Path, exc: OSError, ids: Ids) -> None:
    """Rename the old golden back after the new one failed to take its place."""
    try:
        os.rename(retired, folder)
    except OSError:
        raise GoldenWriteError(
            f"Could not write the golden of {ids['port']} ({ids['profile']}): "
            f"{write_failure(exc)}. The old golden, moved aside, could not be put back: it is "
            f"unchanged at {retired.name}, where readers use it.",
            context={"folder": folder, "old golden": retired, "path": exc.filename or folder},
            fix="fix what the error names, then record again (the next record renames "
            f"{retired.name} back first).", **ids) from exc


def _after_swap_error(exc: OSError, folder: Path, retired: Path | None, ids: Ids
                      ) -> GoldenWriteError:
    left = (f"; the old golden is left at {retired.name}: remove it (`rm -rf {retired}`)"
            if retired is not None and retired.exists() else "")
    return GoldenWriteError(
        f"The new golden of {ids['port']} ({ids['profile']}) is in place, but finishing the "
        f"swap failed: {write_failure(exc)}{left}.",
        context={"folder": folder, "path": exc.filename or folder},
        fix="check the new golden (`git status`, `git diff`) and fix the file system; the "
        "next record also removes what was left.", **ids)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mkdirs(path: Path, folder: Path, ids: Ids) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(exc, folder, ids) from None


def write_failure(exc: OSError) -> str:
    """Why a write failed, in words: a full disk, a folder that is not writable, or the
    system's own message."""
    why = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk is full ({why})"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"the folder is not writable ({why})"
    return why


def _write_error(exc: OSError, folder: Path, ids: Ids) -> GoldenWriteError:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = ("make the folder writable, or pass --golden-dir (or set $RNN_HARNESS_GOLDEN) "
               "to a writable copy of the store")
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free space on that disk, then record again"
    else:
        fix = "fix what the error names, then record again"
    return GoldenWriteError(
        f"Could not write the golden of {ids['port']} ({ids['profile']}): "
        f"{write_failure(exc)}; the golden is unchanged.",
        context={"folder": folder, "path": exc.filename or folder}, fix=fix, **ids)
