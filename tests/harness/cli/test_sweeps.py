"""``--executor dask --scheduler tcp://...`` on the CLI gives what the local executor gives."""

from __future__ import annotations

from harness.cli import main
from tests.fakes import fake_registry


def run(argv, root):
    return main([*argv, "--golden-dir", str(root)], registry_factory=fake_registry)


def test_record_seeds_on_dask_writes_the_local_executors_envelope(tmp_path, dask_scheduler):
    base = ["record", "fake/numpy", "--profile", "ci", "--seeds", "6"]
    assert run([*base, "--executor", "local", "--workers", "2"], tmp_path / "local") == 0
    assert run([*base, "--executor", "dask", "--scheduler", dask_scheduler],
               tmp_path / "dask") == 0
    local, dask = (tmp_path / name / "fake" / "numpy" / "ci" / "envelope.csv"
                   for name in ("local", "dask"))
    assert local.read_text() == dask.read_text()


def test_check_envelope_runs_on_an_existing_dask_cluster(tmp_path, dask_scheduler, capsys):
    assert run(["record", "fake/numpy", "--profile", "ci", "--seeds", "4", "--workers", "0"],
               tmp_path) == 0
    assert run(["check", "fake/numpy", "--profile", "ci", "--envelope", "--executor", "dask",
                "--scheduler", dask_scheduler], tmp_path) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if "fake/numpy" in line][-1]
    assert "inside" in row and "none recorded" in row
