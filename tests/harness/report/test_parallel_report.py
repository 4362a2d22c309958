"""``rnn-harness report`` trains its ports on the executor: the same report as a sequential
run, with a port that kills its worker kept as that port's failure."""

from __future__ import annotations

import pytest

from harness.cli import main
from tests.harness.cli.test_parallel_check import IDS, killing_registry, recording_registry

pd = pytest.importorskip("pandas", reason="install the report extra")


def report(tmp_path, golden, out, registry, *extra):
    argv = ["report", "--all", "--golden-dir", str(golden), "--out", str(tmp_path / out),
            *extra]
    assert main(argv, registry_factory=registry) == 0
    return pd.read_csv(tmp_path / out / "summary.csv")


@pytest.fixture
def golden(tmp_path):
    argv = ["record", "--all", "--profile", "ci", "--golden-dir", str(tmp_path / "golden")]
    assert main(argv, registry_factory=recording_registry) == 0
    return tmp_path / "golden"


def test_parallel_report_equals_the_sequential_one(tmp_path, golden):
    sequential = report(tmp_path, golden, "seq", recording_registry, "--workers", "1")
    parallel = report(tmp_path, golden, "par", recording_registry, "--workers", "2")
    timing = [c for c in sequential.columns if "/s" in c or "time" in c or "s/" in c]
    pd.testing.assert_frame_equal(sequential.drop(columns=timing),
                                  parallel.drop(columns=timing))
    assert list(parallel["golden"]) == ["pass"] * len(IDS)


def test_a_port_that_kills_its_worker_is_that_ports_failure(tmp_path, golden, capsys):
    summary = report(tmp_path, golden, "killed", killing_registry, "--workers", "2")
    assert "WorkerDied" in capsys.readouterr().err
    by_port = dict(zip(summary["port"], summary["golden"], strict=True))
    assert by_port["fake/numpy-drift"] != "pass"
    assert [by_port[p] for p in IDS if p != "fake/numpy-drift"] == ["pass"] * 3
