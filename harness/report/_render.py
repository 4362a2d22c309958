"""The report's files: ``report.md``, a self-contained ``report.html`` (plots as base64
PNG) and the CSVs, built from the tables; pandas renders every table."""

from __future__ import annotations

import base64
import html
import importlib.util
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from harness.backends import REFERENCE_FRAMEWORK
from harness.errors import UsageError
from harness.golden import GoldenStore
from harness.registry import Registry, default_registry
from harness.report._display import display_summary, framework_matrix
from harness.report._environment import (
    environment_table,
    git_commit,
    report_versions,
    reproduce_commands,
)
from harness.report._plots import plot_tutorial
from harness.report._runs import RunSet
from harness.report._status import read_envelopes
from harness.report._tables import continuations_tables, summary_table, trajectory_table

if TYPE_CHECKING:
    import pandas as pd

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1500px; color: #212529; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 13px; }
th, td { border: 1px solid #ced4da; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f1f3f5; }
tr:nth-child(even) td { background: #f8f9fa; }
img { max-width: 100%; border: 1px solid #dee2e6; margin: 0.5em 0; }
pre { background: #f1f3f5; padding: 0.8em; overflow-x: auto; }
.continuation td { font-family: ui-monospace, monospace; white-space: pre-wrap; }
"""

NOTES = (
    "golden: the run against its golden under the spec's tolerance (first divergent epoch "
    "and max relative error; epochs past a tolerance's horizon are reported, not gated). "
    "cross-framework: each follower framework's port trained from the initial weights of "
    f"the reference framework's port ({REFERENCE_FRAMEWORK}), against that port's own run: "
    "max relative trajectory difference over the gated epochs, the epoch where it is "
    "reached, and the spec's cross_framework tolerance. s/epoch: mean wall time per epoch; "
    "throughput over the whole run (first epoch included)."
)


@dataclass(frozen=True)
class Report:
    """The tables and figures of one report, ready to render."""

    runs: RunSet
    summary: pd.DataFrame
    curves: pd.DataFrame
    #: tutorial -> its runs' generated text, one column per port
    continuations: dict[str, pd.DataFrame]
    environment: pd.DataFrame
    plots: dict[str, bytes]
    commands: list[str]
    #: what the reader must know that fits no table (e.g. a refused seed envelope)
    notes: list[str] = field(default_factory=list)


def build_report(runs: RunSet, store: GoldenStore, registry: Registry | None = None
                 ) -> Report:
    """Build every table and figure (no files written)."""
    registry = registry or default_registry()
    curves = trajectory_table(runs, store, registry)
    plots, notes = {}, []
    for tutorial in dict.fromkeys(curves["tutorial"]):
        ports = sorted(set(curves.loc[curves["tutorial"] == tutorial, "port"]))
        envelopes, refused = read_envelopes(store, ports, runs.profile, registry)
        notes += refused
        spec = registry.spec(tutorial)
        horizons = {m: spec.tolerance(m).horizon for m in spec.metrics}
        plots[tutorial] = plot_tutorial(curves, tutorial,
                                        {p: env.stats for p, env in envelopes.items()},
                                        horizons)
    extra = {"report built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "harness commit": git_commit(), **report_versions(),
             **{f"saved runs {i}": s.folder for i, s in enumerate(runs.sources, 1)}}
    return Report(runs, summary_table(runs, store, registry), curves,
                  continuations_tables(runs), environment_table(runs, extra), plots,
                  reproduce_commands(runs, registry), notes)


def require_report_extra() -> None:
    """Fail early, naming the extra, when pandas, tabulate or matplotlib is missing."""
    missing = [m for m in ("pandas", "tabulate", "matplotlib")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(
            f"The report needs {', '.join(missing)}, which is not installed here.",
            context={"missing": ", ".join(missing)},
            fix="pip install 'rnn-harness[report]' (or run the `report` tox env).")


def report_files(runs: RunSet, store: GoldenStore, out: str | Path,
                 registry: Registry | None = None) -> dict[str, Path]:
    """Build the report from ``runs`` and write it into ``out``; returns the paths written."""
    if not runs.runs:
        raise UsageError(
            "No run succeeded, so there is nothing to report.",
            context={"failures": len(runs.failures), "profile": runs.profile},
            details="\n".join(_failure_lines(runs)),
            fix="fix the failures above (install the framework, set the corpus folder, ...).")
    return write_report(build_report(runs, store, registry), out)


def write_report(report: Report, out: str | Path) -> dict[str, Path]:
    """Write ``report.md``, ``report.html``, the CSVs and ``plots/*.png`` into ``out``."""
    folder = Path(out)
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    paths = {"summary.csv": folder / "summary.csv",
             "trajectories.csv": folder / "trajectories.csv"}
    report.summary.to_csv(paths["summary.csv"], index=False)
    report.curves.to_csv(paths["trajectories.csv"], index=False)
    for tutorial, table in report.continuations.items():
        paths[f"continuations_{tutorial}.csv"] = folder / f"continuations_{tutorial}.csv"
        table.to_csv(paths[f"continuations_{tutorial}.csv"])
    for tutorial, png in report.plots.items():
        paths[f"plots/{tutorial}.png"] = folder / "plots" / f"{tutorial}.png"
        paths[f"plots/{tutorial}.png"].write_bytes(png)
    paths["report.md"] = folder / "report.md"
    paths["report.md"].write_text(render_markdown(report), encoding="utf-8")
    paths["report.html"] = folder / "report.html"
    paths["report.html"].write_text(render_html(report), encoding="utf-8")
    return paths


def _title(report: Report) -> str:
    return f"rnn-harness comparison report ({report.runs.profile} profile)"


def _failure_lines(runs: RunSet) -> list[str]:
    return [f"{f.port_id} [{f.device}] ({f.kind}{', saved in ' + f.source if f.source else ''})"
            f": {f.message}" for f in runs.failures]


def render_markdown(report: Report) -> str:
    """The report as GitHub Markdown (plots referenced as plots/<tutorial>.png)."""
    parts = [f"# {_title(report)}", "", "## Summary", ""]
    matrix = framework_matrix(report.summary)
    if not matrix.empty:
        parts += [matrix.to_markdown(index=False), ""]
    parts += [display_summary(report.summary).to_markdown(index=False), "", NOTES, ""]
    if report.runs.failures:
        parts += ["### Failures", "", "```text", *_failure_lines(report.runs), "```", ""]
    parts += ["## Trajectories", "", *(f"- {note}" for note in report.notes)]
    for tutorial in report.plots:
        parts += ["", f"### {tutorial}", "", f"![{tutorial}](plots/{tutorial}.png)"]
    for tutorial, table in report.continuations.items():
        parts += ["", f"## {tutorial} continuations", "", table.to_markdown()]
    parts += ["", "## Environment", "", report.environment.to_markdown(index=False), "",
              "## Reproduce", "", "```bash", *report.commands, "```", ""]
    return "\n".join(parts)


def _img(tutorial: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<h3>{html.escape(tutorial)}</h3>\n<img alt="{html.escape(tutorial)} '
            f'trajectories" src="data:image/png;base64,{data}">')


def _table(frame: pd.DataFrame, css: str, index: bool = False) -> str:
    return frame.to_html(index=index, classes=css, border=0, na_rep="")


def render_html(report: Report) -> str:
    """The report as one HTML page with its plots embedded (no external resources)."""
    body = [f"<h1>{html.escape(_title(report))}</h1>", "<h2>Summary</h2>"]
    matrix = framework_matrix(report.summary)
    if not matrix.empty:
        body.append(_table(matrix, "matrix"))
    body += [_table(display_summary(report.summary), "summary"),
             f"<p>{html.escape(NOTES)}</p>"]
    if report.runs.failures:
        body += ["<h3>Failures</h3>",
                 f"<pre>{html.escape(chr(10).join(_failure_lines(report.runs)))}</pre>"]
    body.append("<h2>Trajectories</h2>")
    body += [f"<p>{html.escape(note)}</p>" for note in report.notes]
    body += [_img(t, png) for t, png in report.plots.items()]
    for tutorial, table in report.continuations.items():
        body += [f"<h2>{html.escape(tutorial)} continuations</h2>",
                 _table(table, "continuation", index=True)]
    body += ["<h2>Environment</h2>", _table(report.environment, "environment"),
             "<h2>Reproduce</h2>", f"<pre>{html.escape(chr(10).join(report.commands))}</pre>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(_title(report))}</title><style>{CSS}</style></head>\n"
            "<body>\n" + "\n".join(body) + "\n</body></html>\n")
