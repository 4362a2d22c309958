"""The report on the real ports: torch and MXNet side by side, goldens and weight transfer."""

from __future__ import annotations

import pytest

pytest.importorskip("pandas", reason="install the report extra: pip install 'rnn-harness[report]'")
pytest.importorskip("matplotlib",
                    reason="install the report extra: pip install 'rnn-harness[report]'")

import pandas as pd  # noqa: E402

from harness.check import default_golden_dir  # noqa: E402
from harness.cli import main  # noqa: E402
from harness.golden import GoldenStore  # noqa: E402
from harness.registry import default_registry  # noqa: E402
from harness.report import collect_runs, summary_table  # noqa: E402

pytest.importorskip("torch", reason="install the torch extra: pip install 'rnn-harness[torch]'")
pytest.importorskip("mxnet", reason="install the mxnet extra: pip install 'rnn-harness[mxnet]'")

pytestmark = [pytest.mark.torch, pytest.mark.mxnet, pytest.mark.cross_framework]


def test_elman_sine_report_row_matches_golden_and_cross_tolerance():
    registry = default_registry()
    store = GoldenStore(default_golden_dir())
    ports = ["elman_sine/torch", "elman_sine/mxnet"]
    runs = collect_runs(ports, "ci", registry=registry, golden=store)
    assert runs.failures == []
    table = summary_table(runs, store, registry).set_index("port")
    assert list(table["golden"]) == ["pass", "pass"]
    assert set(table["framework"]) == {"torch", "mxnet"}
    mxnet = table.loc["elman_sine/mxnet"]
    assert mxnet["cross partner"] == "elman_sine/torch" and mxnet["cross within tol"] == "yes"
    # spec: the MXNet port from torch's weights follows it within 3.2e-5 over 300 epochs
    assert 0 < mxnet["cross max rel diff"] < registry.spec("elman_sine").cross_framework[
        "default"].rtol


@pytest.mark.slow
def test_default_report_covers_every_available_port(tmp_path):
    """`rnn-harness report` with no port named: every available port, ci profile."""
    assert main(["report", "--out", str(tmp_path)]) == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    registry = default_registry()
    available = sorted(p for p in registry.ids() if registry.available(p))
    assert sorted(summary["port"]) == available
    md = (tmp_path / "report.md").read_text()
    for tutorial in {p.split("/")[0] for p in available}:
        assert f"plots/{tutorial}.png" in md and (tmp_path / "plots" / f"{tutorial}.png").exists()
