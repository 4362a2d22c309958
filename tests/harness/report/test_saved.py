"""Saved runs from several environments merged into one report (harness/report/_saved.py).

Two fake framework ids stand in for frameworks that cannot share a process (JAX needs
numpy >= 2, MXNet < 1.24): each "environment" saves its own folder; the reference
framework's runs may come from another folder than its followers'.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pandas", reason="install the report extra: pip install 'rnn-harness[report]'")
pytest.importorskip("matplotlib",
                    reason="install the report extra: pip install 'rnn-harness[report]'")

import pandas as pd  # noqa: E402

from harness.backends import FRAMEWORKS, Framework  # noqa: E402
from harness.errors import SavedRunsConflictError  # noqa: E402
from harness.golden import GoldenStore  # noqa: E402
from harness.registry import PortEntry, Registry  # noqa: E402
from harness.report import (  # noqa: E402
    build_report,
    collect_runs,
    framework_matrix,
    load_runs,
    merge_runs,
    save_runs,
    summary_table,
)
from tests.fakes import drifted_registry  # noqa: E402

REFERENCE, FIRST, SECOND = "fake/numpy", "fake/fakemx", "fake/fakejax"


def three_framework_registry() -> Registry:
    return Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakePort"),
                     PortEntry("fake", "fakemx", "", "tests.fakes:DriftedFakePort"),
                     PortEntry("fake", "fakejax", "", "tests.fakes:FakePort")],
                    {"fake": "tests.harness.report.conftest:SPEC_CROSS"})


@pytest.fixture
def registry(monkeypatch) -> Registry:
    """Two extra framework ids whose module is numpy (so they count as installed)."""
    for fw in ("fakemx", "fakejax"):
        monkeypatch.setitem(FRAMEWORKS, fw, Framework("numpy", "", None, "#868e96"))
    return three_framework_registry()


@pytest.fixture
def store(tmp_path, registry) -> GoldenStore:
    from tests.harness.report.conftest import record_golden

    golden = GoldenStore(tmp_path / "golden")
    for port in (REFERENCE, FIRST, SECOND):
        record_golden(golden, port, registry)
    return golden


@pytest.fixture
def folders(tmp_path, registry, store):
    """Environment A: the reference and one follower; environment B: only the other
    follower and its run from the reference's weights (its reference run is A's)."""
    a = collect_runs([REFERENCE, FIRST], "ci", registry=registry, golden=store,
                     pairs=[(REFERENCE, FIRST)])
    a.command = "rnn-harness report fake/numpy fake/fakemx --profile ci --out a"
    b = collect_runs([SECOND], "ci", registry=registry, golden=store,
                     pairs=[(REFERENCE, SECOND)])
    return save_runs(a, tmp_path / "env-a"), save_runs(b, tmp_path / "env-b")


def test_merged_report_has_every_port_its_golden_and_its_distance_to_the_reference(
        folders, store, registry):
    merged = load_runs(folders)
    table = summary_table(merged, store, registry).set_index("port")
    assert sorted(table.index) == sorted([REFERENCE, FIRST, SECOND])
    assert list(table["golden"]) == ["pass", "pass", "pass"]
    # env B holds no reference run: its follower is measured against env A's
    assert table.loc[SECOND, "cross partner"] == REFERENCE
    assert table.loc[SECOND, "cross max rel diff"] == 0.0  # the same code from the same weights
    assert table.loc[FIRST, "cross partner"] == REFERENCE
    assert table.loc[FIRST, "cross max rel diff"] > 1e-4  # 1 % lr


def test_merge_matches_one_environment_holding_everything(folders, store, registry):
    everything = collect_runs([REFERENCE, FIRST, SECOND], "ci", registry=registry,
                              golden=store, pairs=[(REFERENCE, FIRST), (REFERENCE, SECOND)])
    columns = ["port", "golden", "golden max rel err", "cross partner", "cross max rel diff",
               "cross at epoch", "final"]
    pd.testing.assert_frame_equal(summary_table(load_runs(folders), store, registry)[columns],
                                  summary_table(everything, store, registry)[columns])


def test_matrix_has_one_column_per_framework(folders, store, registry):
    matrix = framework_matrix(summary_table(load_runs(folders), store, registry))
    assert list(matrix.columns) == ["tutorial", "numpy", "fakemx", "fakejax"]
    row = matrix.iloc[0]
    assert row["numpy"] == "\u2714 pass"
    assert row["fakejax"] == "\u2714 pass \u00b7 0 from numpy (within rtol 1e-09)"
    assert "OUTSIDE" in row["fakemx"]


def test_the_same_run_saved_in_two_folders_is_kept_once(tmp_path, store, registry):
    runs = collect_runs([REFERENCE], "ci", registry=registry, golden=store, pairs=[])
    twice = load_runs([save_runs(runs, tmp_path / "x"), save_runs(runs, tmp_path / "y")])
    assert [t.port_id for t in twice.runs] == [REFERENCE]
    assert [s.folder for s in twice.sources] == [str(tmp_path / "x"), str(tmp_path / "y")]


def test_two_different_runs_of_one_port_and_device_are_refused_naming_both_folders(
        tmp_path, store, registry):
    ours = collect_runs([REFERENCE], "ci", registry=registry, golden=store, pairs=[])
    drifted = collect_runs([REFERENCE], "ci", registry=drifted_registry(), pairs=[])
    x, y = save_runs(ours, tmp_path / "x"), save_runs(drifted, tmp_path / "y")
    with pytest.raises(SavedRunsConflictError) as info:
        load_runs([x, y])
    text = str(info.value)
    assert f"first folder: {x}" in text and f"second folder: {y}" in text
    assert "first different epoch: 1" in text and REFERENCE in text


def test_folders_of_different_profiles_are_refused(tmp_path, registry):
    ci = collect_runs([REFERENCE], "ci", registry=registry, pairs=[])
    tutorial = collect_runs([REFERENCE], "tutorial", registry=registry, pairs=[])
    with pytest.raises(SavedRunsConflictError, match="different profiles"):
        merge_runs([load_runs(save_runs(ci, tmp_path / "c")),
                    load_runs(save_runs(tutorial, tmp_path / "t"))])


def test_reproduce_block_has_one_block_per_environment_then_the_merge(folders, store,
                                                                      registry):
    commands = build_report(load_runs(folders), store, registry).commands
    a, b = folders
    assert f"rnn-harness report fake/numpy fake/fakemx --profile ci --out a --save-runs {a}" \
        in commands
    assert f"rnn-harness report --from-runs {a} --from-runs {b} --out report" in commands
    assert sum(c.startswith("# environment") for c in commands) == 2


def test_cli_merges_repeated_from_runs(folders, store, registry, tmp_path):
    from harness.cli import main

    a, b = folders
    argv = ["report", "--from-runs", str(a), "--from-runs", str(b), "--golden-dir",
            str(store.root), "--out", str(tmp_path / "out")]
    assert main(argv, registry_factory=three_framework_registry) == 0
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert sorted(summary["port"]) == sorted([REFERENCE, FIRST, SECOND])


def test_cli_refuses_conflicting_folders_with_exit_2(tmp_path, store, registry, capsys):
    from harness.cli import main

    ours = collect_runs([REFERENCE], "ci", registry=registry, golden=store, pairs=[])
    drifted = collect_runs([REFERENCE], "ci", registry=drifted_registry(), pairs=[])
    x, y = save_runs(ours, tmp_path / "x"), save_runs(drifted, tmp_path / "y")
    argv = ["report", "--from-runs", str(x), "--from-runs", str(y), "--out",
            str(tmp_path / "out")]
    assert main(argv, registry_factory=three_framework_registry) == 2
    err = capsys.readouterr().err
    assert str(x) in err and str(y) in err
    assert not (tmp_path / "out").exists()
