"""The report agrees with itself and blames the port that moved (issue 20 s3): the terminal
prints the HTML's verdict line, each run's checkpoint segments have a visible cell, and an
unchanged follower is not failed for its reference's move."""

from __future__ import annotations

import pytest

pytest.importorskip("pandas", reason="install the report extra: pip install 'rnn-harness[report]'")
pytest.importorskip("matplotlib",
                    reason="install the report extra: pip install 'rnn-harness[report]'")

import html  # noqa: E402
import re  # noqa: E402

from harness.cli import main  # noqa: E402
from harness.golden import GoldenStore  # noqa: E402
from harness.report import (  # noqa: E402
    build_report,
    collect_runs,
    display_summary,
    render_markdown,
    summary_table,
)
from harness.report._failures import CROSS_OUTSIDE  # noqa: E402
from tests.harness.report.conftest import (  # noqa: E402
    FAILING,
    failing_registry,
    pair_registry,
    record_golden,
)


def test_the_terminal_prints_the_verdict_the_html_shows(tmp_path, capsys):
    golden = tmp_path / "golden"
    for port in FAILING:
        record_golden(GoldenStore(golden), port, failing_registry(good=True))
    argv = ["report", "--all", "--workers", "1", "--golden-dir", str(golden), "--out",
            str(tmp_path / "out")]
    assert main(argv, registry_factory=failing_registry) == 0
    printed = " ".join(capsys.readouterr().out.split())
    page = (tmp_path / "out" / "report.html").read_text()
    verdict = html.unescape(re.search(r'<p class="verdict fail">(.*?)</p>', page).group(1))
    assert verdict.startswith("\u2716 3 failures") and verdict in printed, printed


def test_an_unchanged_follower_is_not_blamed_for_its_reference_moving(tmp_path):
    """The reference (fake/numpy-drift, lr 1 % up) moved; the follower (fake/numpy) did
    not: only the reference fails, and the distance between them is not judged."""
    store = GoldenStore(tmp_path / "golden")
    record_golden(store, "fake/numpy", pair_registry())
    record_golden(store, "fake/numpy-drift", failing_registry(good=True))
    registry = pair_registry()
    runs = collect_runs(["fake/numpy-drift", "fake/numpy"], "ci", registry=registry,
                        golden=store, pairs=[("fake/numpy-drift", "fake/numpy")])
    report = build_report(runs, store, registry)
    assert [(f.status, f.port) for f in report.failures] == [("REGRESSION", "fake/numpy-drift")]
    assert not any(f.status == CROSS_OUTSIDE for f in report.failures)
    shown = display_summary(report.summary).set_index("port")
    assert shown.loc["fake/numpy", "golden"] == "\u2714 pass"
    cross = shown.loc["fake/numpy", "cross-framework distance (same initial weights)"]
    assert "OUTSIDE" not in cross and "not judged: fake/numpy-drift left its golden" in cross


def test_a_follower_that_moved_is_still_outside_its_cross_tolerance(failing):
    runs, store, registry = failing
    report = build_report(runs, store, registry)
    assert (CROSS_OUTSIDE, "fake/numpy-drift") in [(f.status, f.port) for f in report.failures]


def test_checkpoint_segments_have_their_own_cell(runs, store, registry):
    run = runs.run("fake/numpy", "cpu")
    run.meta["segments_check"] = {
        "status": "REGRESSION", "segments": 12, "failed": 3, "start": 100,
        "first": "first divergent: segment from epoch 100, epoch 100 step 4: clipped 0 vs "
                 "golden 1"}
    shown = display_summary(summary_table(runs, store, registry)).set_index("port")
    cell = shown.loc["fake/numpy", "checkpoint segments"]
    assert cell.startswith("\u2716 REGRESSION 3 of 12: first divergent: segment from epoch 100")
    # the run passed: the golden status says where it failed, the cell above says how
    assert shown.loc["fake/numpy", "golden"] == "\u2716 REGRESSION in its checkpoint segments"
    run.meta["segments_check"] = {"status": "pass", "segments": 12, "failed": 0, "first": "",
                                  "start": None}
    md = render_markdown(build_report(runs, store, registry))
    assert "checkpoint segments" in md and "\u2714 pass (12)" in md


def test_a_port_the_report_skips_names_the_fix_that_works_here(tmp_path, capsys, monkeypatch):
    from harness import backends
    from harness import registry as registry_mod
    from harness.registry import PortEntry, Registry

    here = {"numpy", "mxnet"}  # JAX cannot join an env that has MXNet
    monkeypatch.setattr(backends, "framework_available", lambda fw: fw in here)
    monkeypatch.setattr(registry_mod, "framework_available", lambda fw: fw in here)

    def with_jax() -> Registry:
        return Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakePort"),
                         PortEntry("fake", "jax", "", "tests.fakes:FakePort")],
                        {"fake": "tests.harness.report.conftest:SPEC_CROSS"})

    record_golden(GoldenStore(tmp_path / "golden"), "fake/numpy", with_jax())
    argv = ["report", "--all", "--workers", "1", "--golden-dir", str(tmp_path / "golden"),
            "--out", str(tmp_path / "out")]
    assert main(argv, registry_factory=with_jax) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "skipped fake/jax" in err
    assert "needs the jax tox env (JAX cannot share an environment with MXNet)" in err
