"""The report's figures: per tutorial, every port's trajectory over its golden (and seed
envelope), coloured by framework, with the epoch where a run left its golden marked.
matplotlib is the ``report`` extra, imported inside the functions; no pyplot, so nothing
global changes."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.backends import FRAMEWORKS, REFERENCE_FRAMEWORK

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: ``stats[metric][stat]``: per-epoch ``mean``, ``std``, ``min`` and ``max`` over seeds.
EnvelopeStats = Mapping[str, Mapping[str, np.ndarray]]
#: Colour of a framework missing from the table (a user's own framework id).
OTHER_COLOUR = "#495057"
#: Colour of the marks where a run left its golden.
FAILURE_COLOUR = "#c92a2a"
#: Log scale when the curve spans more than this factor (and is positive).
LOG_SPAN = 20.0
#: Figure width in inches (at 100 dpi: 1400 px, the HTML page's width) and panel height.
WIDTH, PANEL_HEIGHT = 14.0, 4.2
# Draw order: envelopes, runs, goldens, then the dashed runs from the reference's weights
# on top, thinner than the reference's own run: where the two coincide (the point of a
# transfer), the reference's colour stays visible on both sides of the dashes.
Z_ENVELOPE, Z_RUN, Z_GOLDEN, Z_TRANSFER, Z_MARK = 1, 3, 4, 5, 6
REFERENCE_WIDTH, RUN_WIDTH, TRANSFER_WIDTH = 3.2, 1.8, 1.2
#: Line styles of a second, third... device's runs (the first one's is solid).
DEVICE_STYLES = ((0, (6, 2, 1, 2)), (0, (1, 1.5)), (0, (8, 3)))


@dataclass(frozen=True)
class Mark:
    """An epoch to mark on a port's panels (where its run left its golden or went NaN)."""

    epoch: int
    label: str


def _colour(framework: str) -> str:
    fw = FRAMEWORKS.get(framework)
    return fw.colour if fw is not None else OTHER_COLOUR


def wants_log_scale(values: np.ndarray) -> bool:
    """Whether positive values spanning more than ``LOG_SPAN`` read better on a log axis."""
    finite = values[np.isfinite(values)]
    return bool(finite.size) and finite.min() > 0 and finite.max() / finite.min() > LOG_SPAN


def _plot_envelope(ax: Axes, stats: EnvelopeStats, metric: str, colour: str) -> None:
    if metric not in stats:
        return
    s = stats[metric]
    epochs = np.arange(len(s["mean"]))
    ax.fill_between(epochs, s["min"], s["max"], color=colour, alpha=0.12, linewidth=0,
                    zorder=Z_ENVELOPE)
    # mean - std can fall below zero (and off a log axis) where min cannot: clip to the band
    low = np.maximum(s["mean"] - s["std"], s["min"])
    high = np.minimum(s["mean"] + s["std"], s["max"])
    ax.fill_between(epochs, low, high, color=colour, alpha=0.22, linewidth=0,
                    zorder=Z_ENVELOPE)


def _plot_port(ax: Axes, curves: pd.DataFrame, port: str, devices: Sequence[str]) -> None:
    mine = curves[curves["port"] == port]
    framework = str(mine["framework"].iloc[0])
    colour = _colour(framework)
    width = REFERENCE_WIDTH if framework == REFERENCE_FRAMEWORK else RUN_WIDTH
    for (kind, device), curve in mine.groupby(["kind", "device"]):
        x, y = curve["epoch"].to_numpy(), curve["value"].to_numpy()
        if kind == "golden":
            every = max(1, len(x) // 25)
            ax.plot(x, y, linestyle="none", marker="o", markersize=6, markevery=every,
                    markerfacecolor="none", markeredgecolor=colour, markeredgewidth=1.2,
                    zorder=Z_GOLDEN, gid=f"golden {port}")
        elif kind == "run":
            rank = devices.index(device) if device in devices else 0
            style = "-" if rank == 0 else DEVICE_STYLES[(rank - 1) % len(DEVICE_STYLES)]
            ax.plot(x, y, color=colour, linewidth=width, linestyle=style, zorder=Z_RUN,
                    solid_capstyle="butt", gid=f"run {port} {device}")
        else:  # a follower trained from the reference's initial weights
            ax.plot(x, y, color=colour, linewidth=TRANSFER_WIDTH, linestyle=(0, (4, 2.5)),
                    zorder=Z_TRANSFER, gid=f"{kind} -> {port} {device}")


def _mark(ax: Axes, port: str, marks: Sequence[Mark]) -> list[str]:
    """A dotted line at each mark's epoch; returns the marks' labels (shown in the panel's
    title, where they cover no data)."""
    short = port.split("/", 1)[-1]
    for m in marks:
        ax.axvline(m.epoch, color=FAILURE_COLOUR, linestyle=":", linewidth=1.8, zorder=Z_MARK,
                   gid=f"mark {port}")
    return [f"{short}: {m.label}" for m in marks]


def _grid(metrics: Sequence[str], variants: Sequence[str]) -> tuple[int, int]:
    """(rows, columns): one column per variant; one variant fills two columns."""
    if len(variants) > 1:
        return len(metrics), len(variants)
    columns = 1 if len(metrics) == 1 else 2
    return math.ceil(len(metrics) / columns), columns


def plot_tutorial(curves: pd.DataFrame, tutorial: str,
                  envelopes: Mapping[str, EnvelopeStats] | None = None,
                  horizons: Mapping[str, int | None] | None = None, *,
                  marks: Mapping[str, Sequence[Mark]] | None = None,
                  labels: Mapping[str, str] | None = None,
                  gated: Sequence[str] = ()) -> bytes:
    """PNG of ``tutorial_figure`` (same arguments), a page wide at 100 dpi."""
    fig = tutorial_figure(curves, tutorial, envelopes, horizons, marks=marks, labels=labels,
                          gated=gated)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def tutorial_figure(curves: pd.DataFrame, tutorial: str,
                    envelopes: Mapping[str, EnvelopeStats] | None = None,
                    horizons: Mapping[str, int | None] | None = None, *,
                    marks: Mapping[str, Sequence[Mark]] | None = None,
                    labels: Mapping[str, str] | None = None,
                    gated: Sequence[str] = ()) -> Figure:
    """``tutorial``'s curves (a ``trajectory_table`` slice): one panel per metric and
    variant, runs as lines, goldens as open circles, envelopes (port -> ``Envelope.stats``)
    as bands, one legend below every panel.

    ``horizons`` maps a metric to its tolerance horizon (later epochs are shaded as not
    gated); ``marks`` maps a port to the epochs where it left its golden; ``labels`` maps
    a metric to its axis label (e.g. whether a loss is summed or a mean); ``gated`` names
    the metrics a golden gates: they come first, the others are titled "not gated".
    """
    from matplotlib.figure import Figure

    curves = curves[curves["tutorial"] == tutorial]
    present = list(dict.fromkeys(curves["metric"]))
    metrics = [m for m in gated if m in present] + [m for m in present if m not in gated]
    variants = sorted(set(curves["variant"]))
    devices = sorted(set(curves.loc[curves["kind"] == "run", "device"]))
    rows, columns = _grid(metrics, variants)
    fig = Figure(figsize=(WIDTH, PANEL_HEIGHT * rows + 1.2), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    panels = [(m, v) for m in metrics for v in variants]
    for ax, (metric, variant) in zip(axes, panels, strict=False):
        panel = curves[(curves["metric"] == metric) & (curves["variant"] == variant)]
        marked = _draw_panel(ax, panel, envelopes or {}, metric, devices, marks or {})
        _shade_ungated(ax, (horizons or {}).get(metric), panel["epoch"].max())
        ax.set_ylabel((labels or {}).get(metric, metric)
                      + (" (log scale)" if ax.get_yscale() == "log" else ""))
        ax.set_title(_panel_title(metric, variant, len(variants) > 1, gated), fontsize=10,
                     loc="left")
        if marked and (not gated or metric in gated):
            ax.set_title("; ".join(marked), fontsize=9, loc="right", color=FAILURE_COLOUR)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    last = curves["epoch"].max()
    shaded = any(h is not None and h <= last for m, h in (horizons or {}).items() if m in present)
    _legend(fig, curves, envelopes or {}, shaded, bool(marks), devices)
    fig.suptitle(f"{tutorial}: runs (lines) over their goldens (circles)", fontsize=13)
    return fig


def _panel_title(metric: str, variant: str, several: bool, gated: Sequence[str]) -> str:
    title = f"variant: {variant or 'default'} \u00b7 " if several else ""
    if gated and metric not in gated:
        return f"{title}{metric} (observed, not gated)"
    return f"{title}{metric}" + (" (gated by the golden)" if gated else "")


def _draw_panel(ax: Axes, panel: pd.DataFrame, envelopes: Mapping[str, EnvelopeStats],
                metric: str, devices: Sequence[str], marks: Mapping[str, Sequence[Mark]]
                ) -> list[str]:
    """Draw every port of one panel; returns the labels of the marks it drew."""
    from matplotlib import ticker

    framework_of = dict(zip(panel["port"], panel["framework"], strict=False))
    labels = []
    for port in sorted(framework_of, key=lambda p: (framework_of[p] != REFERENCE_FRAMEWORK, p)):
        if port in envelopes:
            _plot_envelope(ax, envelopes[port], metric, _colour(framework_of[port]))
        _plot_port(ax, panel, port, devices)
        labels += _mark(ax, port, marks.get(port, ()))
    if wants_log_scale(panel["value"].to_numpy()):
        ax.set_yscale("log")
        # 1-2-5 labels: a span of one or two decades otherwise shows a single tick label
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch (0-based)")
    ax.grid(True, which="major", alpha=0.3)
    return labels


def _shade_ungated(ax: Axes, horizon: int | None, last_epoch: float) -> None:
    if horizon is not None and horizon <= last_epoch:
        ax.axvspan(horizon - 0.5, last_epoch + 0.5, color="#adb5bd", alpha=0.15, linewidth=0)


def _legend(fig: Figure, curves: pd.DataFrame, envelopes: Mapping[str, EnvelopeStats],
            shaded: bool, marked: bool, devices: Sequence[str]) -> None:
    """One legend under all panels: a colour per framework, then what each line style means
    (instead of one entry per port and style in every panel, which covered the data)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    # a panel holds one port per framework (variants get their own panels): colour = framework
    frameworks = sorted(set(curves["framework"]), key=lambda fw: (fw != REFERENCE_FRAMEWORK, fw))
    handles: list[Any] = [
        Line2D([], [], color=_colour(fw), linewidth=3,
               label=fw + (" (reference)" if fw == REFERENCE_FRAMEWORK else ""))
        for fw in frameworks]
    grey = "#343a40"
    handles.append(Line2D([], [], color=grey, linewidth=RUN_WIDTH,
                          label="run" + (f" [{devices[0]}]" if len(devices) > 1 else "")))
    handles += [Line2D([], [], color=grey, linewidth=RUN_WIDTH,
                       linestyle=DEVICE_STYLES[(i - 1) % len(DEVICE_STYLES)],
                       label=f"run [{d}]") for i, d in enumerate(devices) if i]
    handles.append(Line2D([], [], linestyle="none", marker="o", markerfacecolor="none",
                          markeredgecolor=grey, label="golden"))
    if any(str(k).startswith("from ") for k in set(curves["kind"])):
        handles.append(Line2D([], [], color=grey, linewidth=TRANSFER_WIDTH,
                              linestyle=(0, (4, 2.5)),
                              label="dashed: run from the reference port's initial weights"))
    if envelopes:
        handles += [Patch(color=grey, alpha=0.12, label="seed envelope (min-max)"),
                    Patch(color=grey, alpha=0.3, label="seed mean \u00b1 std")]
    if shaded:
        handles.append(Patch(color="#adb5bd", alpha=0.3, label="reported, not gated"))
    if marked:
        handles.append(Line2D([], [], color=FAILURE_COLOUR, linestyle=":", linewidth=1.6,
                              label="first epoch off the golden (or NaN)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6),
               fontsize=9, frameon=False)
