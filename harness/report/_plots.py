"""The report's figures: per tutorial, every port's trajectory over its golden (and seed
envelope), coloured by framework. matplotlib is the ``report`` extra, imported inside the
functions; no pyplot, so nothing global changes."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from harness.backends import FRAMEWORKS, REFERENCE_FRAMEWORK

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

#: ``stats[metric][stat]``: per-epoch ``mean``, ``std``, ``min`` and ``max`` over seeds.
EnvelopeStats = Mapping[str, Mapping[str, np.ndarray]]
#: Colour of a framework missing from the table (a user's own framework id).
OTHER_COLOUR = "#495057"
#: Log scale when the curve spans more than this factor (and is positive).
LOG_SPAN = 20.0
# Draw order: envelopes, then transferred runs (dashed), then runs, goldens on top, so a
# follower started from the reference's weights never hides the reference's own line.
Z_ENVELOPE, Z_TRANSFER, Z_RUN, Z_GOLDEN = 1, 2, 3, 4


def _colour(framework: str) -> str:
    fw = FRAMEWORKS.get(framework)
    return fw.colour if fw is not None else OTHER_COLOUR


def wants_log_scale(values: np.ndarray) -> bool:
    """Whether positive values spanning more than ``LOG_SPAN`` read better on a log axis."""
    finite = values[np.isfinite(values)]
    return bool(finite.size) and finite.min() > 0 and finite.max() / finite.min() > LOG_SPAN


def _plot_envelope(ax: Axes, stats: EnvelopeStats, metric: str, colour: str,
                   label: str) -> None:
    if metric not in stats:
        return
    s = stats[metric]
    epochs = np.arange(len(s["mean"]))
    ax.fill_between(epochs, s["min"], s["max"], color=colour, alpha=0.12, linewidth=0,
                    zorder=Z_ENVELOPE, label=f"{label} seed envelope (min-max)")
    # mean - std can fall below zero (and off a log axis) where min cannot: clip to the band
    low = np.maximum(s["mean"] - s["std"], s["min"])
    high = np.minimum(s["mean"] + s["std"], s["max"])
    ax.fill_between(epochs, low, high, color=colour, alpha=0.22, linewidth=0,
                    zorder=Z_ENVELOPE, label=f"{label} seed mean ± std")


def _plot_port(ax: Axes, curves: pd.DataFrame, port: str, several_devices: bool) -> None:
    mine = curves[curves["port"] == port]
    colour = _colour(str(mine["framework"].iloc[0]))
    short = port.split("/", 1)[1]
    for (kind, device), curve in mine.groupby(["kind", "device"]):
        x, y = curve["epoch"].to_numpy(), curve["value"].to_numpy()
        if kind == "golden":
            every = max(1, len(x) // 25)
            ax.plot(x, y, linestyle="none", marker="o", markersize=6, markevery=every,
                    markerfacecolor="none", markeredgecolor=colour, markeredgewidth=1.2,
                    zorder=Z_GOLDEN, label=f"{short} golden")
        elif kind == "run":
            suffix = f" [{device}]" if several_devices else ""
            ax.plot(x, y, color=colour, linewidth=1.8, zorder=Z_RUN,
                    label=f"{short} run{suffix}")
        else:  # a follower trained from the reference's initial weights
            reference = str(kind).removeprefix("from ").split("/", 1)[-1]
            ax.plot(x, y, color=colour, linewidth=1.4, linestyle=(0, (4, 3)), alpha=0.8,
                    zorder=Z_TRANSFER, label=f"{short} from {reference}'s initial weights")


def plot_tutorial(curves: pd.DataFrame, tutorial: str,
                  envelopes: Mapping[str, EnvelopeStats] | None = None,
                  horizons: Mapping[str, int | None] | None = None) -> bytes:
    """PNG of ``tutorial``'s curves (a ``trajectory_table`` slice): one panel per metric and
    variant, runs as lines, goldens as open circles, envelopes (port -> ``Envelope.stats``)
    as bands. ``horizons`` maps a metric to its tolerance horizon: later epochs are shaded
    as not gated."""
    from matplotlib.figure import Figure

    curves = curves[curves["tutorial"] == tutorial]
    metrics = list(dict.fromkeys(curves["metric"]))
    variants = sorted(set(curves["variant"]))
    several = curves.loc[curves["kind"] == "run", "device"].nunique() > 1
    fig = Figure(figsize=(7.2 * len(variants), 5.0 * len(metrics)), layout="constrained")
    axes = fig.subplots(len(metrics), len(variants), squeeze=False)
    for row, metric in enumerate(metrics):
        for col, variant in enumerate(variants):
            ax = axes[row][col]
            panel = curves[(curves["metric"] == metric) & (curves["variant"] == variant)]
            _draw_panel(ax, panel, envelopes or {}, metric, several)
            _shade_ungated(ax, (horizons or {}).get(metric), panel["epoch"].max())
            # below the axes: a long legend (envelopes, transfers) never covers the data
            ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2,
                      frameon=False)
            if len(variants) > 1:
                ax.set_title(f"variant: {variant or 'default'}", fontsize=11)
    fig.suptitle(f"{tutorial}: runs (lines) over their goldens (circles)", fontsize=13)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _draw_panel(ax: Axes, panel: pd.DataFrame, envelopes: Mapping[str, EnvelopeStats],
                metric: str, several_devices: bool) -> None:
    framework_of = dict(zip(panel["port"], panel["framework"], strict=False))
    for port in sorted(framework_of, key=lambda p: (framework_of[p] != REFERENCE_FRAMEWORK, p)):
        if port in envelopes:
            _plot_envelope(ax, envelopes[port], metric, _colour(framework_of[port]),
                           port.split("/", 1)[1])
        _plot_port(ax, panel, port, several_devices)
    from matplotlib import ticker

    if wants_log_scale(panel["value"].to_numpy()):
        ax.set_yscale("log")
        # 1-2-5 labels: a span of one or two decades otherwise shows a single tick label
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch (0-based)")
    ax.set_ylabel(metric + (" (log scale)" if ax.get_yscale() == "log" else ""))
    ax.grid(True, which="major", alpha=0.3)


def _shade_ungated(ax: Axes, horizon: int | None, last_epoch: float) -> None:
    if horizon is not None and horizon <= last_epoch:
        ax.axvspan(horizon - 0.5, last_epoch + 0.5, color="#adb5bd", alpha=0.15, linewidth=0,
                   label=f"epochs >= {horizon}: reported, not gated")
