"""Seed envelopes: statistics, the files beside the golden, and how a run is classified."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.errors import (
    ConfigMismatchError,
    GoldenCorruptError,
    GoldenMissingError,
    SchemaVersionError,
    UsageError,
)
from harness.golden import (
    GoldenStore,
    build_envelope,
    classify,
    epoch_ranges,
    load_envelope,
    read_envelope,
    resolve,
    write_envelope,
)
from harness.interface import Tolerance, Trajectory
from harness.runner import run_port
from harness.sweep import LocalExecutor, record_envelope
from tests.harness.sweep.noisy import SPEC, registry_of
from tests.fakes import changed_config_registry, fake_registry

TOL = {"default": Tolerance(rtol=1e-6)}


def runs_of(*rows):
    return [{"loss": np.array(r, dtype=np.float64)} for r in rows]


def traj(values):
    return Trajectory("noisy/numpy", "ci", {"loss": np.array(values, dtype=np.float64)})


@pytest.fixture
def store(tmp_path):
    return GoldenStore(tmp_path)


@pytest.fixture
def recorded(store):
    """A 16-seed envelope of the noisy port, trained in this process."""
    return record_envelope("noisy/numpy", "ci", store, 16, registry=registry_of(),
                           executor=LocalExecutor(0))


def test_envelope_stats_bound_every_seed_and_std_is_zero_for_equal_seeds():
    env = build_envelope("noisy/numpy", "ci", [0, 1, 2], runs_of([1, 2], [3, 2], [2, 2]))
    loss = env.stats["loss"]
    assert list(loss["min"]) == [1, 2] and list(loss["max"]) == [3, 2]
    assert list(loss["mean"]) == [2, 2] and loss["std"][1] == 0 and loss["std"][0] == 1


def test_envelope_needs_two_seeds():
    with pytest.raises(UsageError, match="at least two seeds"):
        build_envelope("noisy/numpy", "ci", [0], runs_of([1, 2]))


def test_envelope_files_round_trip_bitwise_with_the_documented_columns(store, recorded):
    folder = store.path("noisy/numpy", "ci")
    header = (folder / "envelope.csv").read_text().splitlines()[0]
    assert header == "epoch,loss_mean,loss_std,loss_min,loss_max"
    meta = json.loads((folder / "envelope.json").read_text())
    assert meta["seeds"] == list(range(16)) and meta["config_hash"]
    back = read_envelope(store, "noisy/numpy", "ci")
    for stat, values in recorded.stats["loss"].items():
        np.testing.assert_array_equal(back.stats["loss"][stat], values)


def test_a_recorded_seed_rerun_is_inside_its_envelope(store, recorded):
    for seed in (0, 15):
        run = run_port("noisy/numpy", "ci", seed=seed, registry=registry_of())
        assert classify(run, recorded, SPEC.tolerances).inside


@pytest.mark.parametrize("values, outside", [
    ([2.0, 2.0], ()),
    ([2.0, 9.0], (1,)),
    ([-5.0, float("nan")], (0, 1)),  # below mean - 3 std; NaN
])
def test_classify_names_the_epochs_outside_the_band(values, outside):
    env = build_envelope("noisy/numpy", "ci", [0, 1], runs_of([1, 2], [3, 2]))
    verdict = classify(traj(values), env, TOL)
    assert verdict.outside_epochs == outside and verdict.inside == (not outside)


def test_a_shorter_run_is_not_inside():
    env = build_envelope("noisy/numpy", "ci", [0, 1], runs_of([1, 2], [3, 2]))
    assert not classify(traj([2.0]), env, TOL).inside


def test_epoch_ranges_compress_runs_of_epochs():
    assert epoch_ranges([3, 4, 5, 9, 11, 12]) == "3-5, 9, 11-12" and epoch_ranges([]) == ""


def test_missing_envelope_names_the_record_seeds_command(store):
    with pytest.raises(GoldenMissingError, match="rnn-harness record noisy/numpy --profile ci "
                       "--seeds 32"):
        read_envelope(store, "noisy/numpy", "ci")


def test_hand_edited_envelope_is_refused(store, recorded):
    path = store.path("noisy/numpy", "ci") / "envelope.csv"
    path.write_text(path.read_text().replace("\n0,", "\n0,1", 1))  # still numbers
    with pytest.raises(GoldenCorruptError, match="SHA-256"):
        read_envelope(store, "noisy/numpy", "ci")


def test_unknown_envelope_schema_is_refused(store, recorded):
    path = store.path("noisy/numpy", "ci") / "envelope.json"
    path.write_text(path.read_text().replace('"schema_version": 1', '"schema_version": 99'))
    with pytest.raises(SchemaVersionError, match="schema version 99"):
        read_envelope(store, "noisy/numpy", "ci")


def test_envelope_of_another_config_is_refused(store):
    record_envelope("fake/numpy", "ci", store, 3, registry=fake_registry(),
                    executor=LocalExecutor(0))
    with pytest.raises(ConfigMismatchError, match="different config"):
        load_envelope(resolve("fake/numpy", "ci", golden_dir=store.root,
                              registry=changed_config_registry()))


def test_write_envelope_leaves_no_temp_files(store, recorded):
    write_envelope(store, recorded)
    names = sorted(p.name for p in store.path("noisy/numpy", "ci").iterdir())
    assert names == ["envelope.csv", "envelope.json"]
