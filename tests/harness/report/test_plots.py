"""The report's figures (harness/report/_plots.py): the epoch where a run left its golden is
marked, a diverged run keeps its golden, the reference's line shows under the dashed run
from its weights, one legend sits below the panels, axis labels come from the spec, and the
figure is as wide as the HTML page."""

from __future__ import annotations

import pytest

pytest.importorskip("pandas", reason="install the report extra: pip install 'rnn-harness[report]'")
pytest.importorskip("matplotlib",
                    reason="install the report extra: pip install 'rnn-harness[report]'")

import io  # noqa: E402
from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402

from harness.golden import GoldenStore  # noqa: E402
from harness.registry import PortEntry, Registry  # noqa: E402
from harness.report import (  # noqa: E402
    Mark,
    build_report,
    collect_runs,
    render_html,
    trajectory_table,
    tutorial_figure,
)
from tests.fakes import SPEC  # noqa: E402
from tests.harness.report.conftest import record_golden  # noqa: E402

#: the fake's spec saying what its loss is (a field a spec may carry: ``metric_labels``)
SPEC_LABELLED = replace(SPEC)
object.__setattr__(SPEC_LABELLED, "metric_labels", {"loss": "loss (mean over 16 samples, / 2)"})


def _lines(fig, gid_start: str):  # type: ignore[no-untyped-def]
    return [line for ax in fig.axes for line in ax.get_lines()
            if str(line.get_gid() or "").startswith(gid_start)]


def test_the_first_divergent_epoch_is_a_labelled_vertical_line():
    import pandas as pd

    curves = pd.DataFrame({"tutorial": "fake", "port": "fake/numpy", "framework": "numpy",
                           "variant": "", "device": "cpu", "kind": "run", "metric": "loss",
                           "epoch": range(4), "value": [4.0, 3.0, 2.0, 1.0]})
    fig = tutorial_figure(curves, "fake", marks={"fake/numpy": [Mark(2, "left its golden")]},
                          gated=("loss",))
    (line,) = _lines(fig, "mark fake/numpy")
    assert list(line.get_xdata()) == [2, 2]
    # labelled in the panel's title (red, on the right), where it covers no data
    assert fig.axes[0].get_title(loc="right") == "numpy: left its golden"
    assert fig.axes[0].get_title(loc="left") == "loss (gated by the golden)"


def test_report_marks_where_each_failing_run_left_its_golden(failing, monkeypatch):
    from harness.report import _render

    seen = {}
    real = _render.plot_tutorial

    def spy(curves, tutorial, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.update(kwargs["marks"])
        return real(curves, tutorial, *args, **kwargs)

    monkeypatch.setattr(_render, "plot_tutorial", spy)
    runs, store, registry = failing
    build_report(runs, store, registry)
    assert seen == {"fake/numpy-drift": [Mark(1, "left its golden at epoch 1")],
                    "fake/numpy-nan": [Mark(2, "NaN at epoch 2")]}


def test_a_diverged_run_keeps_its_golden_and_the_epochs_it_finished(failing):
    runs, store, registry = failing
    curves = trajectory_table(runs, store, registry)
    nan = curves[curves["port"] == "fake/numpy-nan"]
    golden = store.read("fake/numpy-nan", "ci").metrics["loss"]
    np.testing.assert_array_equal(nan.loc[nan["kind"] == "golden", "value"], golden)
    run = nan.loc[nan["kind"] == "run", "value"].to_numpy()
    np.testing.assert_array_equal(run, golden[:2])  # epochs 0 and 1; NaN from epoch 2
    fig = tutorial_figure(curves, "fake")
    assert _lines(fig, "golden fake/numpy-nan") and _lines(fig, "run fake/numpy-nan")


def test_the_reference_line_is_wider_and_under_the_dashed_run_from_its_weights(
        runs, store, registry, monkeypatch):
    """Where the two coincide, the dashed line on top leaves the reference's colour
    visible on both sides (the old order hid the dashes' partner entirely)."""
    from harness.report import _plots

    monkeypatch.setattr(_plots, "REFERENCE_FRAMEWORK", "numpy")
    fig = tutorial_figure(trajectory_table(runs, store, registry), "fake")
    (reference,) = _lines(fig, "run fake/numpy ")
    (transfer,) = _lines(fig, "from fake/numpy -> fake/numpy-drift")
    assert transfer.get_zorder() > reference.get_zorder()
    assert reference.get_linewidth() >= 2 * transfer.get_linewidth()
    assert transfer.get_alpha() in (None, 1.0)


def test_one_legend_sits_below_every_panel(runs, store, registry):
    fig = tutorial_figure(trajectory_table(runs, store, registry), "fake")
    assert all(ax.get_legend() is None for ax in fig.axes)
    (legend,) = fig.legends
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    below = legend.get_window_extent(renderer).y1
    assert all(below <= ax.get_window_extent(renderer).y0 for ax in fig.axes)
    labels = [t.get_text() for t in legend.get_texts()]
    # one entry per framework, then one per line style (not every port x style)
    assert labels == ["numpy", "run", "golden",
                      "dashed: run from the reference port's initial weights"]


def test_axis_label_comes_from_the_spec_metric_labels(tmp_path, monkeypatch):
    from harness.report import _render

    registry = Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakePort")],
                        {"fake": "tests.harness.report.test_plots:SPEC_LABELLED"})
    store = GoldenStore(tmp_path)
    record_golden(store, "fake/numpy", registry)
    runs = collect_runs(["fake/numpy"], "ci", registry=registry, golden=store, pairs=[])
    figures = []
    monkeypatch.setattr(_render, "plot_tutorial",
                        lambda *a, **k: figures.append(tutorial_figure(*a, **k)) or b"")
    build_report(runs, store, registry)
    (fig,) = figures
    assert fig.axes[0].get_ylabel() == "loss (mean over 16 samples, / 2)"


def test_plots_are_page_wide_in_the_html(runs, store, registry):
    from matplotlib.image import imread

    report = build_report(runs, store, registry)
    assert imread(io.BytesIO(report.plots["fake"])).shape[1] >= 1400  # px at 100 dpi
    page = render_html(report)
    assert '<img class="plot"' in page and "img.plot { width: 100%" in page


def test_observed_metrics_follow_the_gated_ones_and_say_so():
    import pandas as pd

    rows = [{"tutorial": "fake", "port": "fake/numpy", "framework": "numpy", "variant": "",
             "device": "cpu", "kind": "run", "metric": m, "epoch": e, "value": 1.0 + e}
            for m in ("grad_norm_mean", "loss") for e in range(3)]
    fig = tutorial_figure(pd.DataFrame(rows), "fake", gated=("loss",))
    assert [ax.get_title(loc="left") for ax in fig.axes] == [
        "loss (gated by the golden)", "grad_norm_mean (observed, not gated)"]
