"""Seed envelopes: statistics, the files beside the golden, and how a run is classified."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from harness.check import load_envelope, resolve
from harness.compare import ALPHA, POWER, classify, compare_outcomes, detectable_shift, rank_test_p
from harness.errors import (
    ConfigMismatchError,
    GoldenCorruptError,
    GoldenMissingError,
    SchemaVersionError,
    UsageError,
)
from harness.golden import GoldenStore, build_envelope, read_envelope, write_envelope
from harness.interface import Tolerance, Trajectory
from harness.report import epoch_ranges
from harness.runner import run_port
from harness.sweep import LocalExecutor, record_envelope
from tests.fakes import changed_config_registry, fake_registry
from tests.harness.sweep.noisy import SPEC, registry_of

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
    with pytest.raises(ConfigMismatchError, match="changed since its envelope was recorded"):
        load_envelope(resolve("fake/numpy", "ci", golden_dir=store.root,
                              registry=changed_config_registry()))


def test_write_envelope_leaves_no_temp_files(store, recorded):
    write_envelope(store, recorded)
    names = sorted(p.name for p in store.path("noisy/numpy", "ci").iterdir())
    assert names == ["envelope.csv", "envelope.json"]


# ---------------------------------------------------------------- per-seed outcomes


def test_envelope_stores_each_seeds_final_and_area_and_reads_them_back_bitwise(store, recorded):
    runs = [run_port("noisy/numpy", "ci", seed=s, registry=registry_of()) for s in range(16)]
    final = np.array([r.metrics["loss"][-1] for r in runs])
    area = np.array([np.mean(r.metrics["loss"]) for r in runs])
    np.testing.assert_array_equal(recorded.outcomes["loss"]["final"], final)
    np.testing.assert_array_equal(recorded.outcomes["loss"]["area"], area)
    back = read_envelope(store, "noisy/numpy", "ci").outcomes
    for outcome, values in recorded.outcomes["loss"].items():
        np.testing.assert_array_equal(back["loss"][outcome], values)


def strip_outcomes(store):
    """Make the stored envelope one recorded before per-seed outcomes were stored."""
    path = store.path("noisy/numpy", "ci") / "envelope.json"
    meta = json.loads(path.read_text())
    del meta["outcomes"], meta["outcomes_sha256"]
    path.write_text(json.dumps(meta))


def test_an_envelope_from_before_outcomes_still_reads_its_band(store, recorded):
    strip_outcomes(store)
    back = read_envelope(store, "noisy/numpy", "ci")
    assert back.outcomes is None
    np.testing.assert_array_equal(back.stats["loss"]["mean"], recorded.stats["loss"]["mean"])
    assert compare_outcomes(back, recorded.outcomes) is None


def test_hand_edited_outcomes_are_refused(store, recorded):
    path = store.path("noisy/numpy", "ci") / "envelope.json"
    meta = json.loads(path.read_text())
    meta["outcomes"]["loss"]["final"][3] *= 0.5
    path.write_text(json.dumps(meta))
    with pytest.raises(GoldenCorruptError, match="per-seed outcomes differ"):
        read_envelope(store, "noisy/numpy", "ci")


def test_the_same_seeds_reproduced_are_the_same_distribution_with_p_one(recorded):
    verdict = compare_outcomes(recorded, recorded.outcomes)
    assert verdict.same and verdict.p == 1.0
    assert verdict.summary() == "same distribution (p = 1)"
    assert [t.alpha for t in verdict.tests] == [ALPHA / 2] * 2  # Bonferroni: final, area


def test_a_shift_of_two_seed_spreads_is_reported_with_its_size(recorded):
    final = recorded.outcomes["loss"]["final"]
    shifted = {"loss": {**recorded.outcomes["loss"], "final": final + 2 * final.std()}}
    verdict = compare_outcomes(recorded, shifted)
    assert not verdict.same and verdict.p < ALPHA / 2
    assert [t.shifted for t in verdict.tests] == [True, False]  # final, area
    assert verdict.summary().startswith(f"shifted by {2 * final.std():+.3g} (")
    assert "in loss final (p = " in verdict.summary()


def test_one_non_finite_new_outcome_is_a_shift(recorded):
    new = {"loss": {o: v.copy() for o, v in recorded.outcomes["loss"].items()}}
    new["loss"]["final"][0] = np.nan
    assert not compare_outcomes(recorded, new).same


def test_the_stated_detectable_shift_is_detected_with_the_stated_power():
    """Independent samples from the spread the shift was computed from: rejected in about
    POWER of the trials at the stated shift, far less often at half of it."""
    rng = np.random.default_rng(7)
    recorded = rng.lognormal(size=24)
    alpha = 0.005
    shift = detectable_shift(recorded, 12, alpha)
    old = rng.choice(recorded, size=(2000, 24))
    new = rng.choice(recorded, size=(2000, 12))
    at_shift = np.mean(rank_test_p(old, new + shift) < alpha)
    at_half = np.mean(rank_test_p(old, new + shift / 2) < alpha)
    assert abs(at_shift - POWER) < 0.05 and at_half < POWER - 0.3


def test_fewer_new_seeds_need_a_larger_shift():
    recorded = np.random.default_rng(3).normal(size=32)
    assert detectable_shift(recorded, 4, 0.005) > detectable_shift(recorded, 32, 0.005) > 0
    assert detectable_shift(np.ones(8), 8, 0.005) == 0.0  # no spread: any shift shows


def test_too_few_seeds_for_any_p_below_alpha_detect_no_shift():
    """4 against 4 seeds: the rank test's smallest p is about 0.03, above 0.005."""
    recorded = np.random.default_rng(5).normal(size=4)
    assert detectable_shift(recorded, 4, 0.005) == float("inf")
    assert rank_test_p(recorded, recorded + 1e9) > 0.005


#: the noisy tutorial with a much wider band margin at ci than its default table
SPEC_WIDE_CI = replace(SPEC, profile_tolerances={"ci": {"default": Tolerance(rtol=1.0)}})


def test_the_band_is_widened_by_the_tolerance_of_the_profile_checked(store, recorded):
    from harness.registry import PortEntry, Registry
    from harness.sweep import check_envelope

    wide = Registry([PortEntry("noisy", "numpy", "", "tests.harness.sweep.noisy:NoisyPort")],
                    {"noisy": "tests.harness.sweep.test_envelope:SPEC_WIDE_CI"})
    run = run_port("noisy/numpy", "ci", seed=0, registry=registry_of())
    run.metrics["loss"] = run.metrics["loss"] * 1.3  # outside the band, within rtol 1
    assert not classify(run, recorded, SPEC.tolerances).inside
    checked = check_envelope("noisy/numpy", "ci", store, registry=wide, run=run)
    assert checked.verdict.inside
