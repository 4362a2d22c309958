"""GoldenStore: round trip, atomic writes, and a clear error for every kind of broken golden."""

import json

import numpy as np
import pytest

from harness.errors import GoldenCorruptError, GoldenMissingError, SchemaVersionError
from harness.golden import GoldenStore, _codec
from harness.runner import run_port
from tests.fakes import fake_registry


@pytest.fixture
def traj():
    return run_port("fake/numpy", "tutorial", registry=fake_registry())


@pytest.fixture
def store(tmp_path, traj):
    s = GoldenStore(tmp_path)
    s.write(traj)
    return s


def test_golden_round_trip_is_bitwise(store, traj):
    back = store.read("fake/numpy", "tutorial")
    np.testing.assert_array_equal(back.metrics["loss"], traj.metrics["loss"])
    assert back.meta["seed"] == 3 and back.outputs == traj.outputs


def test_golden_path_is_tutorial_port_profile(tmp_path):
    assert GoldenStore(tmp_path).path("char_rnn/mxnet-scratch", "ci") == (
        tmp_path / "char_rnn" / "mxnet-scratch" / "ci")


def test_missing_golden_names_the_record_command(tmp_path):
    with pytest.raises(GoldenMissingError, match="rnn-harness record fake/numpy --profile ci"):
        GoldenStore(tmp_path).read("fake/numpy", "ci")


def _csv(store):
    return store.path("fake/numpy", "tutorial") / "trajectory.csv"


def _meta(store):
    return store.path("fake/numpy", "tutorial") / "meta.json"


def test_truncated_csv_is_refused_with_row_count(store):
    lines = _csv(store).read_text().splitlines(keepends=True)
    _csv(store).write_text("".join(lines[:-2]))
    with pytest.raises(GoldenCorruptError, match="truncated"):
        store.read("fake/numpy", "tutorial")


def test_garbled_csv_names_the_line(store):
    text = _csv(store).read_text().replace("\n2,", "\n2,abc", 1)
    _csv(store).write_text(text)
    with pytest.raises(GoldenCorruptError, match="line 4"):
        store.read("fake/numpy", "tutorial")


def test_hand_edited_csv_fails_the_checksum(store):
    lines = _csv(store).read_text().splitlines(keepends=True)
    fields = lines[1].split(",")
    fields[1] = repr(float(fields[1]) * 2)
    lines[1] = ",".join(fields)
    _csv(store).write_text("".join(lines))
    with pytest.raises(GoldenCorruptError, match="SHA-256"):
        store.read("fake/numpy", "tutorial")


def test_invalid_json_names_line_and_column(store):
    _meta(store).write_text('{"schema_version": 1,\n  "port": }')
    with pytest.raises(GoldenCorruptError, match="line 2 column"):
        store.read("fake/numpy", "tutorial")


def test_unknown_schema_version_is_refused(store):
    meta = json.loads(_meta(store).read_text())
    meta["schema_version"] = 99
    _meta(store).write_text(json.dumps(meta))
    with pytest.raises(SchemaVersionError, match="schema version 99"):
        store.read("fake/numpy", "tutorial")


def test_interrupted_write_leaves_the_old_golden_intact(store, traj, monkeypatch):
    before = {p.name: p.read_bytes() for p in _csv(store).parent.iterdir()}
    traj.metrics["loss"] = traj.metrics["loss"] + 1.0

    def crash(src, dst):
        raise KeyboardInterrupt  # killed between writing the temp file and renaming it

    monkeypatch.setattr(_codec.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.write(traj)
    after = {p.name: p.read_bytes() for p in _csv(store).parent.iterdir()}
    assert after == before  # no temp file left, nothing changed
    store.read("fake/numpy", "tutorial")


def test_obtained_files_do_not_touch_the_golden(store, traj):
    before = _csv(store).read_bytes()
    traj.metrics["loss"] = traj.metrics["loss"] * 1.5
    store.write(traj, obtained=True)
    assert _csv(store).read_bytes() == before
    assert (_csv(store).parent / "trajectory.obtained.csv").exists()
