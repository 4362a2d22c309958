"""The report's figures: per tutorial, every port's trajectory overlaid on its golden (and
seed envelope). matplotlib is the ``report`` extra, imported inside the functions; no pyplot,
so nothing global changes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

#: One colour per framework, so torch and MXNet read apart in every panel.
FRAMEWORK_COLOURS = {"torch": "#d9480f", "mxnet": "#1864ab", "numpy": "#2b8a3e"}
TRANSFER_COLOUR = "#7048e8"
#: Log scale when the curve spans more than this factor (and is positive).
LOG_SPAN = 20.0


def _framework(port_id: str) -> str:
    return port_id.split("/", 1)[1].split("-", 1)[0]


def _variant(port_id: str) -> str:
    name = port_id.split("/", 1)[1]
    return name.split("-", 1)[1] if "-" in name else ""


def wants_log_scale(values: np.ndarray) -> bool:
    """Whether positive values spanning more than ``LOG_SPAN`` read better on a log axis."""
    finite = values[np.isfinite(values)]
    return bool(finite.size) and finite.min() > 0 and finite.max() / finite.min() > LOG_SPAN


def _plot_envelope(ax: Axes, env: pd.DataFrame, metric: str, colour: str, label: str) -> None:
    if f"{metric}_min" not in env:
        return
    epochs = env["epoch"].to_numpy()
    ax.fill_between(epochs, env[f"{metric}_min"], env[f"{metric}_max"], color=colour,
                    alpha=0.12, linewidth=0, label=f"{label} seed envelope (min-max)")
    mean, std = env[f"{metric}_mean"].to_numpy(), env[f"{metric}_std"].to_numpy()
    # mean - std can fall below zero (and off a log axis) where min cannot: clip to the band
    low = np.maximum(mean - std, env[f"{metric}_min"].to_numpy())
    high = np.minimum(mean + std, env[f"{metric}_max"].to_numpy())
    ax.fill_between(epochs, low, high, color=colour, alpha=0.22, linewidth=0,
                    label=f"{label} seed mean ± std")


def _plot_port(ax: Axes, curves: pd.DataFrame, port: str, several_devices: bool) -> None:
    colour = FRAMEWORK_COLOURS.get(_framework(port), "#495057")
    short = port.split("/", 1)[1]
    for (kind, device), curve in curves[curves["port"] == port].groupby(["kind", "device"]):
        x, y = curve["epoch"].to_numpy(), curve["value"].to_numpy()
        if kind == "golden":
            every = max(1, len(x) // 25)
            ax.plot(x, y, linestyle="none", marker="o", markersize=6, markevery=every,
                    markerfacecolor="none", markeredgecolor=colour, markeredgewidth=1.2,
                    label=f"{short} golden")
        elif kind == "run":
            suffix = f" [{device}]" if several_devices else ""
            ax.plot(x, y, color=colour, linewidth=1.8, label=f"{short} run{suffix}")
        else:  # a follower trained from the reference's initial weights
            reference = kind.removeprefix("from ").split("/", 1)[-1]
            ax.plot(x, y, color=TRANSFER_COLOUR, linewidth=1.4, linestyle="--",
                    label=f"{short} from {reference}'s initial weights")


def plot_tutorial(curves: pd.DataFrame, tutorial: str,
                  envelopes: Mapping[str, pd.DataFrame] | None = None,
                  horizons: Mapping[str, int | None] | None = None) -> bytes:
    """PNG of ``tutorial``'s curves (a ``trajectory_table`` slice): one panel per metric and
    variant, runs as lines, goldens as open circles, envelopes as bands. ``horizons`` maps a
    metric to its tolerance horizon: later epochs are shaded as not gated."""
    from matplotlib.figure import Figure

    curves = curves[curves["tutorial"] == tutorial]
    metrics = list(dict.fromkeys(curves["metric"]))
    variants = sorted({_variant(p) for p in curves["port"]})
    several = curves.loc[curves["kind"] == "run", "device"].nunique() > 1
    fig = Figure(figsize=(6.4 * len(variants), 4.2 * len(metrics)), layout="constrained")
    axes = fig.subplots(len(metrics), len(variants), squeeze=False)
    for row, metric in enumerate(metrics):
        for col, variant in enumerate(variants):
            ax = axes[row][col]
            panel = curves[(curves["metric"] == metric)
                           & (curves["port"].map(_variant) == variant)]
            _draw_panel(ax, panel, envelopes or {}, metric, several)
            _shade_ungated(ax, (horizons or {}).get(metric), panel["epoch"].max())
            ax.legend(fontsize=8, loc="best", framealpha=0.85)
            if len(variants) > 1:
                ax.set_title(f"variant: {variant or 'default'}", fontsize=11)
    fig.suptitle(f"{tutorial}: runs (lines) over their goldens (circles)", fontsize=13)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _draw_panel(ax: Axes, panel: pd.DataFrame, envelopes: Mapping[str, Any], metric: str,
                several_devices: bool) -> None:
    ports = sorted(set(panel["port"]), key=lambda p: (_framework(p) != "torch", p))
    for port in ports:
        if port in envelopes:
            colour = FRAMEWORK_COLOURS.get(_framework(port), "#495057")
            _plot_envelope(ax, envelopes[port], metric, colour, port.split("/", 1)[1])
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
