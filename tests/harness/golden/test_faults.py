"""Faults while goldens are written or read: a writer killed between any two renames, two
writers at once, the umask, oversized or too deeply nested files, ids that leave the store,
a read-only golden folder. Each ends in a typed error or a whole golden, never a mix."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness.check import gate, load_initial, obtained_fallback_dir, resolve
from harness.cli import main
from harness.errors import (
    GoldenCorruptError,
    GoldenLockedError,
    GoldenTooLargeError,
    UnsafePathError,
)
from harness.golden import GoldenStore, _codec, read_segments, write_segments
from harness.interface import Checkpoint, Segment
from harness.registry import PortEntry, Registry
from tests.fakes import drifted_registry, fake_registry

REPO = Path(__file__).resolve().parents[3]
PORT, PROFILE = "fake/numpy", "ci"


def record(golden: Path, registry=fake_registry) -> int:
    return main(["record", PORT, "--profile", PROFILE, "--golden-dir", str(golden)],
                registry_factory=registry)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def strays(golden: Path) -> list[str]:
    """Whatever a writer may leave beside a golden folder: staged or retired copies, temp
    files, lock files."""
    return sorted(p.name for p in golden.rglob("*")
                  if ".tmp" in p.name or ".old-" in p.name or p.name.endswith(".lock"))


# ---------------------------------------------------------------- a kill between renames

#: Runs ``record`` with the 1 % drifted port over an existing golden and kills the process
#: (os._exit: no cleanup, as kill -9) right after its Nth rename of any kind.
KILLER = textwrap.dedent("""
    import os, sys
    from harness.cli import main
    from tests.fakes import drifted_registry

    golden, after = sys.argv[1], int(sys.argv[2])
    done = 0

    def dying(rename):
        def wrapped(*args, **kwargs):
            global done
            rename(*args, **kwargs)
            done += 1
            if done == after:
                os._exit(137)
        return wrapped

    os.rename, os.replace = dying(os.rename), dying(os.replace)
    sys.exit(main(["record", "fake/numpy", "--profile", "ci", "--golden-dir", golden],
                  registry_factory=drifted_registry))
""")
#: trajectory pair, initial-weights pair, then the swap: old aside, new in place
RENAMES = 6


def killed_record(golden: Path, after: int) -> int:
    proc = subprocess.run([sys.executable, "-c", KILLER, str(golden), str(after)], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    return proc.returncode


@pytest.mark.parametrize("after", range(1, RENAMES + 1))
def test_a_record_killed_after_any_rename_leaves_the_old_golden_or_the_new_whole(
        tmp_path, after):
    assert record(tmp_path) == 0
    folder = GoldenStore(tmp_path).path(PORT, PROFILE)
    old = files(folder)
    assert killed_record(tmp_path, after) == 137
    store = GoldenStore(tmp_path)
    req = resolve(PORT, PROFILE, golden_dir=tmp_path, registry=fake_registry())
    golden = store.read(PORT, PROFILE)  # raises GoldenCorruptError on a mixed pair
    load_initial(req, golden)
    # the folder readers use: the golden's, or the old one a cut-off swap moved aside
    live = files(folder if folder.is_dir() else next(folder.parent.glob(f"{PROFILE}.old-*")))
    if live != old:  # the new golden, whole: both pairs replaced and each verified
        assert live["trajectory.csv"] != old["trajectory.csv"]
        assert live["meta.json"] != old["meta.json"]
    # the matching port passes against what is there: the golden is usable as it stands
    registry = fake_registry if live == old else drifted_registry
    assert main(["check", PORT, "--profile", PROFILE, "--golden-dir", str(tmp_path)],
                registry_factory=registry) == 0
    # the next record cleans up whatever the killed one left, and leaves nothing behind
    assert record(tmp_path) == 0
    assert strays(tmp_path) == []
    assert sorted(p.name for p in folder.parent.iterdir()) == [PROFILE]


def test_a_failing_write_leaves_the_old_golden_and_no_staged_copy(tmp_path, monkeypatch):
    assert record(tmp_path) == 0
    folder = GoldenStore(tmp_path).path(PORT, PROFILE)
    old = files(folder)
    calls = []
    real = os.replace

    def second_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the trajectory's CSV is in, its meta is not
            raise OSError(28, "No space left on device", str(dst))
        real(src, dst)

    monkeypatch.setattr(os, "replace", second_fails)
    assert record(tmp_path, drifted_registry) == 2
    assert files(folder) == old and strays(tmp_path) == []


# ---------------------------------------------------------------- two writers at once

#: Holds the golden's lock (as a record in progress does) until its stdin closes.
HOLDER = textwrap.dedent("""
    import sys
    from harness.golden import GoldenStore

    with GoldenStore(sys.argv[1]).locked("fake/numpy", "ci"):
        print("holding", flush=True)
        sys.stdin.read()
""")


def test_a_second_writer_is_refused_naming_the_holder_and_the_golden_is_untouched(tmp_path):
    assert record(tmp_path) == 0
    folder = GoldenStore(tmp_path).path(PORT, PROFILE)
    old = files(folder)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], cwd=REPO,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(GoldenLockedError) as info:
            GoldenStore(tmp_path).write(GoldenStore(tmp_path).read(PORT, PROFILE))
        assert f"pid {holder.pid}" in str(info.value) and "Fix:" in str(info.value)
        assert files(folder) == old
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0
    # released with its holder: the next writer gets it, and leaves no lock file behind
    GoldenStore(tmp_path).write(GoldenStore(tmp_path).read(PORT, PROFILE))
    assert strays(tmp_path) == []


def test_a_writer_inside_a_writer_of_the_same_process_reenters_its_lock(tmp_path):
    store = GoldenStore(tmp_path)
    assert record(tmp_path) == 0
    with store.locked(PORT, PROFILE):
        store.write(store.read(PORT, PROFILE))
    assert strays(tmp_path) == []


# ---------------------------------------------------------------- modes, sizes, nesting


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_golden_files_follow_the_umask(tmp_path, mask):
    previous = os.umask(mask)
    try:
        assert record(tmp_path) == 0
    finally:
        os.umask(previous)
    folder = GoldenStore(tmp_path).path(PORT, PROFILE)
    modes = {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()}
    assert modes and set(modes.values()) == {0o666 & ~mask}, modes
    assert folder.stat().st_mode & 0o777 == 0o777 & ~mask


def test_meta_nested_too_deep_is_a_corrupt_golden_not_a_recursion_error(tmp_path):
    assert record(tmp_path) == 0
    meta = GoldenStore(tmp_path).path(PORT, PROFILE) / "meta.json"
    meta.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(GoldenCorruptError, match="nested too deep"):
        GoldenStore(tmp_path).read(PORT, PROFILE)


@pytest.mark.parametrize("name, limit", [("meta.json", ".json"), ("trajectory.csv", ".csv")])
def test_a_file_past_its_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch, name,
                                                                  limit):
    assert record(tmp_path) == 0
    path = GoldenStore(tmp_path).path(PORT, PROFILE) / name
    with path.open("ab") as fh:  # sparse: past the limit without writing it
        fh.truncate(_codec.SIZE_LIMITS[limit] + 1)
    reads = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or real(self))
    with pytest.raises(GoldenTooLargeError) as info:
        GoldenStore(tmp_path).read(PORT, PROFILE)
    assert "limit" in str(info.value) and name in str(info.value) and reads == []


def test_the_limits_leave_room_above_every_committed_golden_file():
    sizes: dict[str, int] = {}
    for path in (REPO / "golden").rglob("*"):
        if path.suffix in _codec.SIZE_LIMITS:
            sizes[path.suffix] = max(sizes.get(path.suffix, 0), path.stat().st_size)
    assert sizes, "no committed golden found"
    for suffix, largest in sizes.items():
        assert largest * 10 < _codec.SIZE_LIMITS[suffix], (suffix, largest)


# ---------------------------------------------------------------- ids that leave the store


@pytest.mark.parametrize("port_id, profile", [
    ("fake/..", "ci"), ("../numpy", "ci"), ("fake/numpy", ".."), ("fake/numpy", "../../x"),
    ("fake/numpy", "/etc"), ("fake/a/b", "ci"), ("fake/numpy", ""),
])
def test_an_id_or_profile_that_leaves_the_store_is_refused(tmp_path, port_id, profile):
    with pytest.raises(UnsafePathError, match="not a plain folder name"):
        GoldenStore(tmp_path / "golden").path(port_id, profile)


def test_segments_are_replaced_as_a_set_and_stray_folders_are_not_segments(tmp_path):
    store = GoldenStore(tmp_path)
    assert record(tmp_path) == 0

    def segment(start: int) -> Segment:
        arrays = {"w": np.arange(3, dtype=np.float32)}
        cols = {"loss": np.array([1.0, 0.5])}
        steps = {"epoch": np.array([0.0, 1.0]), "step": np.array([0.0, 0.0]),
                 "loss": np.array([1.0, 0.5])}
        return Segment(start, 2, Checkpoint(start, arrays, {"lr": 0.1}), cols, steps, {})

    meta = {"seed": 3, "config_hash": "x"}
    write_segments(store, PORT, PROFILE, [segment(2), segment(4)], meta)
    write_segments(store, PORT, PROFILE, [segment(4)], meta)
    root = store.path(PORT, PROFILE) / "segments"
    (root / ".0004.tmp-1").mkdir()
    assert [s.start for s in read_segments(store, PORT, PROFILE)] == [4]


# ---------------------------------------------------------------- a read-only golden folder


def _drifted_gate(tmp_path):
    (tmp_path / "tmp").mkdir()
    assert record(tmp_path / "golden") == 0
    tmp_path = tmp_path / "golden"
    req = resolve(PORT, PROFILE, golden_dir=tmp_path, registry=drifted_registry())
    return req, files(req.golden_path)


def test_a_regression_in_a_read_only_folder_stands_and_its_files_go_elsewhere(
        tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    req, before = _drifted_gate(tmp_path)
    real = _codec.atomic_write

    def read_only(path: Path, data: bytes) -> None:
        if req.golden_path in path.parents:
            raise PermissionError(13, "Permission denied", str(path))
        real(path, data)

    monkeypatch.setattr(_codec, "atomic_write", read_only)
    monkeypatch.setattr("tempfile.tempdir", None)
    verdict = gate(req)
    assert not verdict.passed and verdict.comparison.first_divergent_epoch is not None
    assert verdict.obtained_path is not None
    assert obtained_fallback_dir() in verdict.obtained_path.parents
    assert any("not writable" in note and str(verdict.obtained_path) in note
               for note in verdict.notes)
    assert files(req.golden_path) == before


def test_a_chmod_read_only_golden_folder_keeps_the_verdict(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr("tempfile.tempdir", None)
    req, before = _drifted_gate(tmp_path)
    req.golden_path.chmod(0o555)
    try:
        if os.access(req.golden_path, os.W_OK):
            pytest.skip("chmod does not stop this user (root) from writing; the "
                        "PermissionError case above covers it")
        verdict = gate(req)
    finally:
        req.golden_path.chmod(0o755)
    assert not verdict.passed and verdict.obtained_path is not None
    assert files(req.golden_path) == before


def test_golden_check_refuses_a_profile_that_leaves_the_store(tmp_path):
    from dataclasses import replace

    from harness.pytest_plugin import GoldenCheck
    from tests import fakes

    escaping = replace(fakes.SPEC, profiles={**fakes.PROFILES,
                                             "../../../outside": fakes.FakeConfig(epochs=2)})
    registry = Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakePort")],
                        {"fake": "tests.fakes:SPEC"})
    registry.spec = lambda tutorial: escaping  # type: ignore[method-assign]
    store = tmp_path / "a" / "b" / "golden"
    check = GoldenCheck(update=True, golden_dir=store, registry=registry)
    with pytest.raises(UnsafePathError):
        check.run("fake/numpy", "../../../outside")
    with pytest.raises(UnsafePathError):
        check(main_trajectory("../../../outside", registry))
    assert list(tmp_path.rglob("*")) == []


def main_trajectory(profile: str, registry: Registry):
    from harness.runner import run_port

    return run_port("fake/numpy", profile, seed=3, registry=registry)
