"""Faults in the store that are not regressions (issue 20, section 2): a flipped byte in a
checkpoint or in the initial weights, a full disk at ``record``, a folder where a file
belongs, a golden folder linked out of the store, a store that is missing or is a file.
Each ends in exit 2 and a typed error naming the file and the fix, never in exit 1 or a
traceback, and never in a message that says the golden is unchanged when it changed."""

from __future__ import annotations

import errno
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.errors import (
    EXIT_USAGE,
    GoldenCorruptError,
    GoldenMissingError,
    GoldenStoreError,
    GoldenWriteError,
    UnsafePathError,
)
from harness.golden import GoldenStore, _codec, _swap, read_segments, write_segments
from harness.interface import Checkpoint, Segment
from tests.fakes import drifted_registry, fake_registry

PORT, PROFILE = "fake/numpy", "ci"


def run(command: str, golden: Path | None, *extra: str, registry=fake_registry) -> int:
    where = ["--golden-dir", str(golden)] if golden is not None else []
    return main([command, PORT, "--profile", PROFILE, *where, *extra],
                registry_factory=registry)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def flat(text: str) -> str:
    """Console output with its line wrapping undone (it wraps at spaces)."""
    return " ".join(text.split())


def strays(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*")
                  if ".tmp" in p.name or ".old-" in p.name or p.name.endswith(".lock"))


def segment(start: int) -> Segment:
    arrays = {"w": np.linspace(-1.0, 1.0, 64, dtype=np.float32)}
    cols = {"loss": np.array([1.0, 0.5])}
    steps = {"epoch": np.array([0.0, 1.0]), "step": np.array([0.0, 0.0]),
             "loss": np.array([1.0, 0.5])}
    return Segment(start, 2, Checkpoint(start, arrays, {"lr": 0.1}), cols, steps, {})


def flip_inside_first_member(npz: Path) -> None:
    """Flip the first byte of the first member's deflate stream (what zlib chokes on)."""
    raw = bytearray(npz.read_bytes())
    with zipfile.ZipFile(npz) as zf:
        info = zf.infolist()[0]
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start] ^= 0xFF
    npz.write_bytes(bytes(raw))


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    """A store holding the fake port's ci golden, with two checkpoint segments."""
    store = tmp_path / "golden"
    assert run("record", store) == 0
    write_segments(GoldenStore(store), PORT, PROFILE, [segment(0), segment(2)],
                   {"seed": 3, "config_hash": "x"})
    return store


def folder_of(store: Path) -> Path:
    return GoldenStore(store).path(PORT, PROFILE)


# ---------------------------------------------------------------- flipped bytes


def test_a_flipped_byte_in_a_checkpoint_is_caught_by_its_checksum_before_decoding(
        golden, monkeypatch):
    npz = folder_of(golden) / "segments" / "0002" / "checkpoint.npz"
    flip_inside_first_member(npz)
    decoded = []
    real = _codec.npz_arrays
    monkeypatch.setattr(_codec, "npz_arrays", lambda raw, path, *a: decoded.append(path)
                        or real(raw, path, *a))
    with pytest.raises(GoldenCorruptError) as info:
        read_segments(GoldenStore(golden), PORT, PROFILE)
    assert str(npz) in str(info.value) and "SHA-256" in str(info.value)
    assert npz not in decoded  # refused on its checksum, never handed to zlib


def test_check_exits_2_naming_a_flipped_checkpoint(golden, capsys):
    npz = folder_of(golden) / "segments" / "0000" / "checkpoint.npz"
    flip_inside_first_member(npz)
    assert run("check", golden) == EXIT_USAGE
    err = flat(capsys.readouterr().err)
    assert str(npz) in err and "Traceback" not in err


def test_a_corrupt_initial_params_file_fails_the_check_with_exit_2(golden, capsys):
    npz = folder_of(golden) / "initial_params.npz"
    flip_inside_first_member(npz)
    assert run("check", golden) == EXIT_USAGE
    err = flat(capsys.readouterr().err)
    assert "initial_params.npz" in err and "SHA-256" in err
    # the fix the message names works: re-recording the weights over the broken file
    assert run("record", golden, "--initial-only") == 0
    assert run("check", golden) == 0


def flip_middle_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-10])


@pytest.mark.parametrize("name, damage", [
    ("initial_params.npz", flip_middle_byte), ("initial_params.json", truncate),
    ("segments/0002/epochs.csv", flip_middle_byte), ("segments/0000/steps.json", truncate),
    ("segments/0002/checkpoint.npz", flip_middle_byte)])
def test_reading_a_golden_verifies_every_file_beside_it(golden, name, damage):
    path = folder_of(golden) / name
    damage(path)
    with pytest.raises(GoldenCorruptError) as info:
        GoldenStore(golden).read(PORT, PROFILE)
    assert str(path) in str(info.value)


def test_verifying_the_files_beside_a_golden_hashes_them_without_decoding(golden,
                                                                          monkeypatch):
    calls = []
    monkeypatch.setattr(_codec, "npz_arrays", lambda *a: calls.append(a))
    monkeypatch.setattr(np, "load", lambda *a, **k: calls.append(a))
    GoldenStore(golden).read(PORT, PROFILE)
    assert calls == []


# ---------------------------------------------------------------- a full disk at record


def test_a_full_disk_when_the_lock_is_written_exits_2_and_leaves_no_lock(golden, monkeypatch,
                                                                         capsys):
    before = files(folder_of(golden))

    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwrite", full)
    assert run("record", golden, registry=drifted_registry) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "the golden is unchanged" in err and "Traceback" not in err
    assert files(folder_of(golden)) == before and strays(golden) == []


def test_a_full_disk_while_the_golden_is_written_exits_2_and_leaves_it_whole(
        golden, monkeypatch, capsys):
    before = files(folder_of(golden))
    real = os.fsync

    def full(fd):  # the staged files' data does not fit
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    assert run("record", golden, registry=drifted_registry) == EXIT_USAGE
    monkeypatch.setattr(os, "fsync", real)
    err = capsys.readouterr().err
    assert "the golden is unchanged" in err and "the disk is full" in err
    assert files(folder_of(golden)) == before and strays(golden) == []


def test_a_swap_that_fails_after_the_new_golden_is_in_place_does_not_say_unchanged(
        golden, monkeypatch):
    real = shutil.rmtree

    def cannot_remove_old(path, *args, **kwargs):
        if _swap.RETIRED in Path(path).name:
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(path))
        real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", cannot_remove_old)
    store = GoldenStore(golden)
    new = store.read(PORT, PROFILE)
    new.meta["note"] = "changed"
    with pytest.raises(GoldenWriteError) as info:
        store.write(new)
    message = str(info.value)
    assert "unchanged" not in message and "is in place" in message
    assert store.read(PORT, PROFILE).meta["note"] == "changed"


def test_a_swap_cut_between_its_renames_puts_the_old_golden_back(golden, monkeypatch):
    before = files(folder_of(golden))
    real = os.rename

    def second_rename_fails(src, dst):
        if _swap.STAGED in Path(src).name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        real(src, dst)

    monkeypatch.setattr(os, "rename", second_rename_fails)
    store = GoldenStore(golden)
    with pytest.raises(GoldenWriteError, match="the golden is unchanged"):
        store.write(store.read(PORT, PROFILE))
    assert files(folder_of(golden)) == before and strays(golden) == []


# ---------------------------------------------------------------- folders where files belong


@pytest.mark.parametrize("name", ["meta.json", "trajectory.csv", "initial_params.npz",
                                  "segments/0000/checkpoint.json"])
def test_a_folder_where_a_golden_file_belongs_exits_2(golden, capsys, name):
    path = folder_of(golden) / name
    path.unlink()
    path.mkdir()
    assert run("check", golden) == EXIT_USAGE
    err = flat(capsys.readouterr().err)
    assert str(path) in err and "is a folder" in err and "Traceback" not in err
    with pytest.raises(GoldenCorruptError):
        GoldenStore(golden).read(PORT, PROFILE)


# ---------------------------------------------------------------- links out of the store


def test_a_golden_folder_linked_out_of_the_store_is_refused_and_left_alone(tmp_path, capsys):
    outside = tmp_path / "outside"
    assert run("record", outside) == 0
    store = tmp_path / "golden"
    link = folder_of(store)
    link.parent.mkdir(parents=True)
    link.symlink_to(folder_of(outside), target_is_directory=True)
    before = files(folder_of(outside))
    assert run("record", store, registry=drifted_registry) == EXIT_USAGE
    err = flat(capsys.readouterr().err)
    assert str(link) in err and "link" in err and "unchanged" not in err
    assert link.is_symlink() and files(folder_of(outside)) == before
    assert sorted(p.name for p in link.parent.iterdir()) == [PROFILE]
    assert run("check", store) == EXIT_USAGE
    with pytest.raises(UnsafePathError, match="leads out of the store"):
        GoldenStore(store).read(PORT, PROFILE)


def test_a_golden_folder_linked_inside_the_store_is_read_but_never_replaced(golden):
    folder = folder_of(golden)
    twin = folder.with_name("tutorial")
    folder.rename(twin)
    folder.symlink_to(twin.name, target_is_directory=True)
    before = files(twin)
    store = GoldenStore(golden)
    traj = store.read(PORT, PROFILE)
    with pytest.raises(UnsafePathError, match="is a link"):
        store.write(traj)
    assert folder.is_symlink() and files(twin) == before and strays(golden) == []


def test_a_linked_port_folder_out_of_the_store_is_refused(tmp_path):
    outside = tmp_path / "outside"
    assert run("record", outside) == 0
    store = tmp_path / "golden"
    (store / "fake").mkdir(parents=True)
    (store / "fake" / "numpy").symlink_to(outside / "fake" / "numpy")
    with pytest.raises(UnsafePathError):
        GoldenStore(store).path(PORT, PROFILE)


def test_a_store_reached_through_a_link_is_fine(tmp_path):
    assert run("record", tmp_path / "real") == 0
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    assert run("check", tmp_path / "linked") == 0
    assert run("record", tmp_path / "linked") == 0


# ---------------------------------------------------------------- a store that is not there


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_a_store_that_is_missing_or_a_file_is_named_as_such(tmp_path, monkeypatch, capsys,
                                                            kind):
    root = tmp_path / "golden"
    if kind == "file":
        root.write_text("not a store\n")
    monkeypatch.setenv("RNN_HARNESS_GOLDEN", str(root))
    assert run("check", None) == EXIT_USAGE
    err = flat(capsys.readouterr().err)
    assert str(root) in err and "No golden is recorded" not in err
    assert ("does not exist" if kind == "missing" else "is a file") in err
    assert "RNN_HARNESS_GOLDEN" in err
    with pytest.raises(GoldenMissingError if kind == "missing" else GoldenStoreError,
                       match="The golden store"):
        GoldenStore(root).read(PORT, PROFILE)
    assert not GoldenStore(root).exists(PORT, PROFILE)


def test_record_still_creates_a_new_store(tmp_path):
    assert run("record", tmp_path / "new" / "golden") == 0
    assert run("check", tmp_path / "new" / "golden") == 0


# ---------------------------------------------------------------- why a write failed


@pytest.mark.parametrize("code, says", [
    (errno.ENOSPC, "the disk is full"), (errno.EROFS, "not writable"),
    (errno.EACCES, "not writable"), (errno.EIO, "Input/output error")])
def test_a_failed_write_names_its_reason(code, says):
    assert says in _swap.write_failure(OSError(code, os.strerror(code)))
