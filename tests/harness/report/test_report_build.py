"""report_build on the numpy fake: collecting runs, saving them, and the pandas tables."""

from __future__ import annotations

import pytest

pytest.importorskip("pandas", reason="install the report extra: pip install 'rnn-harness[report]'")
pytest.importorskip("matplotlib",
                    reason="install the report extra: pip install 'rnn-harness[report]'")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from harness.compare import compare_trajectories, relative_error  # noqa: E402
from harness.golden import GoldenStore  # noqa: E402
from harness.interface import Trajectory  # noqa: E402
from harness.registry import PortEntry, Registry  # noqa: E402
from harness.report import (  # noqa: E402
    RunSet,
    collect_runs,
    continuations_table,
    continuations_tables,
    cross_pairs,
    load_runs,
    read_envelopes,
    save_runs,
    summary_table,
    trajectory_table,
)
from harness.runner import run_port  # noqa: E402
from tests.fakes import drifted_registry  # noqa: E402
from tests.harness.report.conftest import PAIR  # noqa: E402


def _row(table: pd.DataFrame, port: str) -> pd.Series:
    rows = table[table["port"] == port]
    assert len(rows) == 1, f"{port} has {len(rows)} rows"
    return rows.iloc[0]


def test_summary_has_one_row_per_port_with_golden_status(runs, store, registry):
    table = summary_table(runs, store, registry)
    assert sorted(table["port"]) == sorted(PAIR)
    fake, drift = _row(table, "fake/numpy"), _row(table, "fake/numpy-drift")
    assert fake["golden"] == "pass" and fake["golden max rel err"] == 0.0
    assert drift["golden"] == "no golden"
    assert "rnn-harness record fake/numpy-drift --profile ci" in drift["golden note"]
    assert fake["framework"] == "numpy" and fake["version"] == np.__version__
    assert fake["epochs"] == 4 and fake["profile"] == "ci" and fake["metric"] == "loss"
    assert fake["final"] == runs.run("fake/numpy", "cpu").metrics["loss"][-1]


def test_summary_names_the_first_divergent_epoch_of_a_regression(store, registry):
    """A run that drifted (lr +1 %) against the fake's golden: REGRESSION from epoch 1."""
    drifted = drifted_registry()
    runs = collect_runs(["fake/numpy"], "ci", registry=drifted, golden=store, pairs=[])
    row = _row(summary_table(runs, store, drifted), "fake/numpy")
    expected = compare_trajectories(runs.runs[0], store.read("fake/numpy", "ci"), ("loss",),
                                    {"default": registry.spec("fake").tolerance("loss")})
    assert row["golden"] == "REGRESSION"
    assert row["golden first divergent epoch"] == expected.first_divergent_epoch == 1
    assert row["golden max rel err"] == pytest.approx(expected.max_rel_error) and \
        row["golden max rel err"] > 1e-4


def test_cross_distance_is_the_largest_relative_difference_and_its_epoch(runs, store, registry):
    reference = runs.run("fake/numpy", "cpu").metrics["loss"]
    follower = runs.transfer("fake/numpy-drift", "cpu").metrics["loss"]
    rel = relative_error(follower, reference)
    table = summary_table(runs, store, registry)
    for port in PAIR:  # shown on both rows of the pair
        row = _row(table, port)
        assert row["cross max rel diff"] == pytest.approx(rel.max())
        assert row["cross at epoch"] == int(np.argmax(rel))
        assert row["cross within tol"] == "NO"  # a 1 % lr change is outside rtol 1e-9
    assert _row(table, "fake/numpy")["cross partner"] == "fake/numpy-drift"


def test_follower_is_trained_from_the_reference_initial_weights(runs):
    transferred = runs.transfer("fake/numpy-drift", "cpu")
    assert transferred.meta["initial_params"] == "transferred"
    assert transferred.meta["reference_port"] == "fake/numpy"


def test_cross_pairs_join_same_tutorial_and_variant_across_frameworks():
    registry = Registry([PortEntry("t", fw, var, "x:y") for fw in ("torch", "mxnet")
                         for var in ("", "last")] + [PortEntry("u", "mxnet", "", "x:y")],
                        {"t": "x:SPEC", "u": "x:SPEC"})
    pairs = cross_pairs(registry, registry.ids())
    assert sorted(pairs) == [("t/torch", "t/mxnet"), ("t/torch-last", "t/mxnet-last")]
    assert cross_pairs(registry, ["t/torch", "t/mxnet-last"]) == []


def test_throughput_is_items_over_wall_time(runs, store, registry):
    traj = runs.run("fake/numpy", "cpu")
    row = _row(summary_table(runs, store, registry), "fake/numpy")
    wall = traj.timing["wall_s"]
    assert row["s/epoch"] == pytest.approx(wall.mean())
    assert row["items/s"] == pytest.approx(16 * len(wall) / wall.sum())  # FakeConfig.n = 16


def test_failed_run_is_kept_as_an_error_row(store, registry):
    runs = collect_runs(["fake/numpy"], "diverges", registry=registry, golden=store, pairs=[])
    assert runs.runs == [] and len(runs.failures) == 1
    assert "at epoch 3" in runs.failures[0].message
    row = _row(summary_table(runs, store, registry), "fake/numpy")
    assert row["golden"] == "DIVERGED" and "diverged" in row["golden note"]
    assert row["golden first divergent epoch"] == 3 and row["epochs"] == 3


def test_saved_runs_give_the_same_tables(runs, store, registry, tmp_path):
    runs.command = "rnn-harness report fake/numpy"
    loaded = load_runs(save_runs(runs, tmp_path / "runs"))
    assert loaded.command == runs.command and loaded.profile == "ci"
    pd.testing.assert_frame_equal(summary_table(loaded, store, registry),
                                  summary_table(runs, store, registry))
    pd.testing.assert_frame_equal(trajectory_table(loaded, store, registry),
                                  trajectory_table(runs, store, registry))


def test_loading_a_folder_without_saved_runs_names_the_fix(tmp_path):
    from harness.errors import GoldenMissingError

    with pytest.raises(GoldenMissingError, match="--save-runs"):
        load_runs(tmp_path)


def test_trajectory_table_holds_runs_goldens_and_transfers(runs, store, registry):
    curves = trajectory_table(runs, store, registry)
    kinds = curves.groupby("port")["kind"].unique().map(sorted).to_dict()
    assert kinds == {"fake/numpy": ["golden", "run"],
                     "fake/numpy-drift": ["from fake/numpy", "run"]}
    golden = curves[(curves["port"] == "fake/numpy") & (curves["kind"] == "golden")]
    np.testing.assert_array_equal(golden["value"], store.read("fake/numpy", "ci").metrics["loss"])


def test_continuations_sit_side_by_side_per_prefix():
    def traj(port: str, text: str) -> Trajectory:
        return Trajectory(port, "ci", {"perplexity": np.ones(2)},
                          outputs={"predictions": {"time traveller": f"time traveller{text}",
                                                   "traveller": f"traveller{text}"}},
                          meta={"device": "cpu"})

    runs = RunSet("ci", runs=[traj("char_rnn/torch-scratch", " the"),
                              traj("char_rnn/mxnet-scratch", " and"),
                              traj("elman_sine/torch", " x")])
    table = continuations_table(runs, "char_rnn")
    assert list(table.columns) == ["char_rnn/torch-scratch", "char_rnn/mxnet-scratch"]
    assert list(continuations_tables(runs)) == ["char_rnn", "elman_sine"]
    assert table.loc["traveller", "char_rnn/mxnet-scratch"] == "traveller and"
    assert table.loc["time traveller", "char_rnn/torch-scratch"] == "time traveller the"


def _write_fake_envelope(store: GoldenStore, registry: Registry) -> None:
    from harness.golden import build_envelope, write_envelope
    from harness.interface import config_hash

    runs = [run_port("fake/numpy", "ci", seed=s, registry=registry).metrics for s in (3, 4)]
    meta = {"config_hash": config_hash(registry.spec("fake").profile("ci"))}
    write_envelope(store, build_envelope("fake/numpy", "ci", (3, 4), runs, meta))


def test_envelopes_are_read_verified_and_a_refused_one_is_a_note(store, registry):
    assert read_envelopes(store, ["fake/numpy"], "ci", registry) == ({}, [])
    _write_fake_envelope(store, registry)
    envelopes, notes = read_envelopes(store, ["fake/numpy"], "ci", registry)
    assert notes == [] and envelopes["fake/numpy"].seeds == (3, 4)
    csv = store.path("fake/numpy", "ci") / "envelope.csv"
    csv.write_text(csv.read_text().replace("1", "2", 1))  # edited by hand: sha256 differs
    envelopes, notes = read_envelopes(store, ["fake/numpy"], "ci", registry)
    assert envelopes == {} and len(notes) == 1
    assert notes[0].startswith("seed envelope of fake/numpy (ci) refused: ")


def test_run_on_a_missing_device_is_a_failure_not_a_crash(store, registry):
    runs = collect_runs(["fake/numpy"], "ci", ["cpu", "cuda"], registry=registry, golden=store,
                        pairs=[])
    assert [t.meta["device"] for t in runs.runs] == ["cpu"]
    assert [(f.device, f.kind) for f in runs.failures] == [("cuda", "run")]


def test_runs_use_the_golden_seed(tmp_path, registry):
    from tests.harness.report.conftest import record_golden

    store = GoldenStore(tmp_path)
    record_golden(store, "fake/numpy", registry, seed=11)
    runs = collect_runs(["fake/numpy"], "ci", registry=registry, golden=store, pairs=[PAIR])
    assert runs.runs[0].meta["seed"] == 11
    # the follower starts from the reference's seed-11 weights (the seed its run used)
    assert runs.transferred[0].meta["seed"] == 11
    np.testing.assert_array_equal(runs.runs[0].metrics["loss"],
                                  run_port("fake/numpy", "ci", seed=11,
                                           registry=registry).metrics["loss"])


def test_an_unreadable_golden_meta_is_a_refused_row_not_a_pass(store, registry):
    """The gate refuses the golden; the report neither falls back to the spec's seed
    silently nor shows a pass."""
    (store.path("fake/numpy", "ci") / "meta.json").write_text("{not json", encoding="utf-8")
    runs = collect_runs(["fake/numpy"], "ci", registry=registry, golden=store, pairs=[])
    row = _row(summary_table(runs, store, registry), "fake/numpy")
    assert row["golden"] == "golden refused"
    assert "meta.json" in row["golden note"]


def test_a_run_with_another_seed_than_its_golden_is_refused_by_the_gate(tmp_path, registry):
    from tests.harness.report.conftest import record_golden

    store = GoldenStore(tmp_path)
    record_golden(store, "fake/numpy", registry, seed=11)
    runs = collect_runs(["fake/numpy"], "ci", registry=registry, golden=None, pairs=[])
    row = _row(summary_table(runs, store, registry), "fake/numpy")
    assert row["golden"] == "golden refused" and "seed 3" in row["golden note"]


def test_throughput_unit_and_cross_config_come_from_the_spec(tmp_path):
    from tests.harness.report.conftest import stated_registry

    registry = stated_registry()
    store = GoldenStore(tmp_path)
    runs = collect_runs(list(PAIR), "ci", registry=registry, golden=store, pairs=[PAIR])
    assert {r["item"] for _, r in summary_table(runs, store, registry).iterrows()} == {"samples"}
    # the follower trains under spec.same_model_config: the spec halves n; the seeded runs
    # keep the profile's n
    assert runs.transfer("fake/numpy-drift", "cpu").meta["config"]["n"] == 8
    assert {t.meta["config"]["n"] for t in runs.runs} == {16}
