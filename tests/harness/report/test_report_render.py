"""The report's rendering and plots, and `rnn-harness report`, on the numpy fake."""

from __future__ import annotations

import pytest

pytest.importorskip("pandas", reason="install the report extra: pip install 'rnn-harness[report]'")
pytest.importorskip("matplotlib",
                    reason="install the report extra: pip install 'rnn-harness[report]'")

import re  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from harness.cli import main  # noqa: E402
from harness.report import (  # noqa: E402
    build_report,
    display_summary,
    plot_tutorial,
    report_files,
    summary_table,
    trajectory_table,
    wants_log_scale,
)
from tests.fakes import fake_registry  # noqa: E402
from tests.harness.report.conftest import pair_registry  # noqa: E402


def test_report_files_are_markdown_self_contained_html_and_csv(runs, store, registry, tmp_path):
    paths = report_files(runs, store, tmp_path / "out", registry)
    assert {"report.md", "report.html", "summary.csv", "trajectories.csv",
            "plots/fake.png"} <= set(paths)
    html = paths["report.html"].read_text()
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == 1 and sources[0].startswith("data:image/png;base64,")
    assert not re.search(r'href="http|src="http|<link ', html)  # no external resource
    # framework matrix, summary, environment (the fake generates no text)
    assert html.count("<table") == 3
    md = paths["report.md"].read_text()
    assert "![fake](plots/fake.png)" in md and "| fake/numpy-drift" in md
    assert "rnn-harness check fake/numpy --profile ci --device cpu" in md
    pd.testing.assert_frame_equal(pd.read_csv(paths["summary.csv"]),
                                  pd.read_csv(_csv(summary_table(runs, store, registry))))


def _csv(frame: pd.DataFrame):  # type: ignore[no-untyped-def]
    import io

    return io.StringIO(frame.to_csv(index=False))


def test_display_summary_shows_status_distance_and_speed(runs, store, registry):
    shown = display_summary(summary_table(runs, store, registry)).set_index("port")
    assert shown.loc["fake/numpy", "golden"] == "\u2714 pass"
    assert shown.loc["fake/numpy-drift", "golden"].startswith(
        "\u25cb no golden: record one: rnn-harness record")
    cross = shown.loc["fake/numpy-drift", "cross-framework distance (same initial weights)"]
    assert re.fullmatch(r"\S+ at epoch \d+ vs fake/numpy \(OUTSIDE rtol 1e-09\)", cross)
    assert shown.loc["fake/numpy", "throughput"].endswith("items/s")


def test_plot_is_a_png_and_an_envelope_changes_it(runs, store, registry):
    curves = trajectory_table(runs, store, registry)
    plain = plot_tutorial(curves, "fake")
    assert plain.startswith(b"\x89PNG")
    stats = {"mean": np.ones(4), "std": np.full(4, 0.1), "min": np.full(4, 0.5),
             "max": np.full(4, 1.5)}
    assert plot_tutorial(curves, "fake", {"fake/numpy": {"loss": stats}}) != plain


def test_plot_colours_come_from_the_framework_table(runs, store, registry, monkeypatch):
    from dataclasses import replace

    from harness.backends import FRAMEWORKS

    curves = trajectory_table(runs, store, registry)
    before = plot_tutorial(curves, "fake")
    monkeypatch.setitem(FRAMEWORKS, "numpy", replace(FRAMEWORKS["numpy"], colour="#ff00ff"))
    assert plot_tutorial(curves, "fake") != before


def test_log_scale_only_for_positive_curves_spanning_decades():
    assert wants_log_scale(np.array([100.0, 3.0, 1.0]))
    assert not wants_log_scale(np.array([2.0, 1.0]))
    assert not wants_log_scale(np.array([-1.0, 100.0]))


def test_environment_lists_versions_threads_and_the_report_tools(runs, store, registry):
    env = build_report(runs, store, registry).environment.set_index("setting")["value"]
    assert env["version numpy"] == np.__version__
    assert env["device"] == "cpu" and "threads cpu_count" in env
    assert "report: pandas" in env and "harness commit" in env


def test_cli_report_trains_saves_and_rebuilds_from_saved_runs(tmp_path, capsys):
    golden = str(tmp_path / "golden")
    assert main(["record", "--all", "--profile", "ci", "--golden-dir", golden],
                registry_factory=fake_registry) == 0
    argv = ["report", "--golden-dir", golden, "--save-runs", str(tmp_path / "runs"),
            "--out", str(tmp_path / "a")]
    assert main(argv, registry_factory=fake_registry) == 0
    assert "done fake/numpy (ci, cpu)" in capsys.readouterr().err  # progress while training
    argv = ["report", "--golden-dir", golden, "--from-runs", str(tmp_path / "runs"),
            "--out", str(tmp_path / "b")]
    assert main(argv, registry_factory=fake_registry) == 0
    assert "done fake/numpy" not in capsys.readouterr().err  # nothing trained
    a, b = (pd.read_csv(tmp_path / d / "summary.csv") for d in "ab")
    pd.testing.assert_frame_equal(a, b)
    assert a.loc[0, "golden"] == "pass"


@pytest.mark.parametrize("extra", [["fake/numpy"], ["--all"], ["--save-runs", "x"]],
                         ids=["port", "all", "save-runs"])
def test_cli_from_runs_refuses_training_options(tmp_path, capsys, extra):
    argv = ["report", "--from-runs", str(tmp_path), *extra, "--out", str(tmp_path / "o")]
    assert main(argv, registry_factory=pair_registry) == 2
    assert "--from-runs builds from saved runs" in capsys.readouterr().err


def test_cli_report_with_no_successful_run_exits_2_naming_the_failure(tmp_path, capsys):
    argv = ["report", "--profile", "diverges", "--golden-dir", str(tmp_path), "--out",
            str(tmp_path / "o")]
    assert main(argv, registry_factory=fake_registry) == 2
    err = capsys.readouterr().err
    assert "No run succeeded" in err and "diverged" in err


def test_missing_report_extra_is_a_usage_error_naming_it(monkeypatch, tmp_path, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    argv = ["report", "--golden-dir", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main(argv, registry_factory=fake_registry) == 2
    err = capsys.readouterr().err
    assert "matplotlib" in err and "pip install 'rnn-harness[report]'" in err
    assert not (tmp_path / "o").exists()


def test_failed_runs_are_rows_and_listed_with_their_message(store, registry, tmp_path):
    from harness.report import collect_runs
    from tests.harness.report.conftest import PAIR

    runs = collect_runs(list(PAIR), "ci", ["cpu", "cuda"], registry=registry, golden=store,
                        pairs=[PAIR])
    md = report_files(runs, store, tmp_path, registry)["report.md"].read_text()
    assert md.count("\u2716 ERROR: Device 'cuda' is not available.") == 2  # one row per port
    # cuda: 2 runs + the follower's run from the reference's weights; cpu: outside cross tol
    assert "## \u2716 Failures (4)" in md
    assert md.count("Fix: use cpu.") == 1  # one detail for every failure it explains
