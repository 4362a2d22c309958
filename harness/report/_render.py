"""The report's files: ``report.md``, a self-contained ``report.html`` (plots as base64
PNG, styles inline) and the CSVs, built from the tables. The failures (``_failures``) come
first; every text that comes from data (port ids, error messages) is escaped for the format
it goes in."""

from __future__ import annotations

import base64
import html
import importlib.util
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from harness.backends import REFERENCE_FRAMEWORK
from harness.errors import UsageError
from harness.golden import GoldenStore
from harness.interface import EPOCH_OBSERVABLES, observable_tolerance
from harness.registry import Registry, default_registry
from harness.report._display import (
    display_classes,
    display_summary,
    framework_matrix,
    matrix_classes,
    plain_text,
)
from harness.report._environment import (
    environment_table,
    git_commit,
    report_versions,
    reproduce_commands,
)
from harness.report._failures import (
    CROSS_OUTSIDE,
    Failure,
    collect_failures,
    failure_details,
    failure_places,
    plot_marks,
)
from harness.report._plots import plot_tutorial
from harness.report._runs import RunSet
from harness.report._status import (
    STATUSES,
    read_envelopes,
    status_style,
)
from harness.report._tables import continuations_tables, summary_table, trajectory_table

if TYPE_CHECKING:
    import pandas as pd

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1500px; color: #212529;
       padding: 0 1em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 13px; }
th, td { border: 1px solid #ced4da; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f1f3f5; }
tr:nth-child(even) td { background: #f8f9fa; }
img.plot { width: 100%; height: auto; border: 1px solid #dee2e6; margin: 0.5em 0; }
pre { background: #f1f3f5; padding: 0.8em; overflow-x: auto; font-size: 12px; }
.continuation td { font-family: ui-monospace, monospace; white-space: pre-wrap; }
table td.pass, .badge.pass { background: #d3f9d8; color: #2b8a3e; }
table td.regression, table td.diverged, table td.error,
.badge.regression, .badge.diverged, .badge.error {
  background: #ffe3e3; color: #c92a2a; font-weight: 600; }
table td.refused, table td.not-comparable, .badge.refused, .badge.not-comparable {
  background: #fff3bf; color: #a65c00; font-weight: 600; }
table td.no-golden, .badge.no-golden { background: #f1f3f5; color: #495057; }
table td.cross-outside { box-shadow: inset 4px 0 0 #c92a2a; }
.badge.cross-outside { background: #ffe3e3; color: #c92a2a; font-weight: 600; }
table td.cross-outside:not(.pass):not(.regression):not(.diverged):not(.error) {
  color: #c92a2a; font-weight: 600; }
.badge { padding: 1px 6px; border-radius: 3px; white-space: nowrap; }
.verdict { font-size: 17px; padding: 0.5em 0.8em; border-radius: 4px; }
.verdict.ok { background: #d3f9d8; color: #2b8a3e; }
.verdict.fail { background: #ffe3e3; color: #c92a2a; font-weight: 600; }
.failures li { margin: 0.4em 0; }
.legend { color: #495057; font-size: 13px; }
"""

NOTES = (
    "golden: the run against its golden under the spec's tolerance (first divergent epoch "
    "and max relative error; epochs past a tolerance's horizon are reported, not gated). "
    "checkpoint segments: the check's replay of the tutorial golden's checkpoint segments "
    "(how many of them failed, and the first one's first divergence), as `rnn-harness "
    "check` judges them. cross-framework: each follower framework's port trained from the "
    f"initial weights of the reference framework's port ({REFERENCE_FRAMEWORK}), against "
    "that port's own run: max relative trajectory difference over the gated epochs, the "
    "epoch where it is reached, and the spec's cross_framework tolerance; not judged where "
    "the reference's own run left its golden (the reference is the port that moved). "
    "s/epoch: mean wall time per epoch; "
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
    #: every failure, worst first (regressions, divergences, errors, refused goldens...)
    failures: list[Failure] = field(default_factory=list)


def build_report(runs: RunSet, store: GoldenStore, registry: Registry | None = None
                 ) -> Report:
    """Build every table and figure (no files written); refused where no run succeeded."""
    if not runs.runs:
        raise UsageError(
            "No run succeeded, so there is nothing to report.",
            context={"failures": len(runs.failures), "profile": runs.profile},
            details="\n".join(_failure_lines(runs)),
            fix="fix the failures above (install the framework, set the corpus folder, ...).")
    registry = registry or default_registry()
    curves = trajectory_table(runs, store, registry)
    summary = summary_table(runs, store, registry)
    failures = collect_failures(runs, summary, store, registry)
    plots, notes = {}, []
    for tutorial in dict.fromkeys(curves["tutorial"]):
        ports = sorted(set(curves.loc[curves["tutorial"] == tutorial, "port"]))
        envelopes, refused = read_envelopes(store, ports, runs.profile, registry)
        notes += refused
        spec = registry.spec(tutorial)
        table = spec.tolerances_for(runs.profile)
        # the figures, then the observables this profile's golden gates (with their horizon)
        gated_tols = {m: spec.tolerance(m, runs.profile) for m in spec.metrics}
        gated_tols |= {name: tol for name in EPOCH_OBSERVABLES
                       if (tol := observable_tolerance(table, name)) is not None}
        horizons = {m: tol.horizon for m, tol in gated_tols.items()}
        # TODO(issue 11): a TutorialSpec field; until then a spec may carry the mapping
        labels = dict(getattr(spec, "metric_labels", None) or {})
        plots[tutorial] = plot_tutorial(
            curves, tutorial, {p: env.stats for p, env in envelopes.items()}, horizons,
            marks=plot_marks(failures, ports, several=summary["device"].nunique() > 1),
            labels=labels, gated=tuple(gated_tols))
    extra = {"report built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "harness commit": git_commit(), **report_versions(),
             **{f"saved runs {i}": s.folder for i, s in enumerate(runs.sources, 1)}}
    return Report(runs, summary, curves, continuations_tables(runs),
                  environment_table(runs, extra), plots, reproduce_commands(runs, registry),
                  notes, failures)


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
            f": {plain_text(f.message)}" for f in runs.failures]


def verdict_line(report: Report) -> tuple[bool, str]:
    """(all clear?, one line counting the statuses: failures first)."""
    counts = Counter(str(s) for s in report.summary["golden"])
    parts = [f"{status_style(s).symbol} {counts[s]} {s}" for s in STATUSES if counts[s]]
    parts += [f"{status_style(s).symbol} {n} {s}" for s, n in counts.items() if s not in STATUSES]
    outside = sum(f.status == CROSS_OUTSIDE for f in report.failures)
    if outside:
        parts.append(f"\u2716 {outside} {CROSS_OUTSIDE}")
    rows = f"{len(report.summary)} run{'' if len(report.summary) == 1 else 's'}"
    if not report.failures:
        return True, f"\u2714 No failure: {', '.join(parts)} ({rows})."
    return False, (f"\u2716 {len(report.failures)} failure"
                   f"{'s' if len(report.failures) > 1 else ''}, listed below: "
                   f"{', '.join(parts)} ({rows}).")


def status_legend() -> str:
    """What each symbol means (Markdown shows no colour)."""
    return "Status: " + ", ".join(f"{s.symbol} {name}" for name, s in STATUSES.items()) + "."


# --- Markdown ---------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#&!])")


def md_escape(text: object) -> str:
    """``text`` safe in Markdown running text and in a table cell: every character that
    could start markup is backslash-escaped, and line breaks become spaces."""
    return _MD_SPECIAL.sub(r"\\\1", plain_text(str(text))).replace("\r", " ").replace("\n", " ")


def md_fence(text: str, info: str = "text") -> list[str]:
    """A fenced code block that ``text`` cannot close: one backtick more than its longest run."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", plain_text(text), fence]


def md_table(frame: pd.DataFrame, index: bool = False) -> str:
    """``frame`` as a GitHub pipe table, every cell escaped and kept as text."""
    shown = frame.reset_index() if index else frame
    escaped = shown.map(md_escape) if hasattr(shown, "map") else shown.applymap(md_escape)
    escaped.columns = [md_escape(c) for c in shown.columns]
    return escaped.to_markdown(index=False, disable_numparse=True)


def _md_failures(report: Report) -> list[str]:
    if not report.failures:
        return []
    parts = [f"## \u2716 Failures ({len(report.failures)})", ""]
    parts += [f"- {md_escape(f.symbol)} **{md_escape(f.status)}** {md_escape(f.port)} "
              f"\\[{md_escape(f.device)}\\]: {md_escape(f.headline)}" for f in report.failures]
    for detail, failures in failure_details(report.failures).items():
        parts += ["", f"**{md_escape(failure_places(failures))}**", "", *md_fence(detail)]
    return [*parts, ""]


def render_markdown(report: Report) -> str:
    """The report as GitHub Markdown (plots referenced as plots/<tutorial>.png)."""
    ok, verdict = verdict_line(report)
    parts = [f"# {md_escape(_title(report))}", "", f"**{md_escape(verdict)}**", "",
             md_escape(status_legend()), "", *_md_failures(report), "## Summary", ""]
    matrix = framework_matrix(report.summary)
    if not matrix.empty:
        parts += [md_table(matrix), ""]
    parts += [md_table(display_summary(report.summary)), "", md_escape(NOTES), ""]
    parts += ["## Trajectories", "", *(f"- {md_escape(note)}" for note in report.notes)]
    for tutorial in report.plots:
        parts += ["", f"### {md_escape(tutorial)}", "",
                  f"![{md_escape(tutorial)}](plots/{tutorial}.png)"]
    for tutorial, table in report.continuations.items():
        parts += ["", f"## {md_escape(tutorial)} continuations", "", md_table(table, index=True)]
    parts += ["", "## Environment", "", md_table(report.environment), "",
              "## Reproduce", "", *md_fence("\n".join(report.commands), "bash"), ""]
    return "\n".join(parts)


# --- HTML -------------------------------------------------------------------------------

def _esc(value: object) -> str:
    return html.escape(plain_text(str(value)))


def _img(tutorial: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<h3>{_esc(tutorial)}</h3>\n<img class="plot" alt="{_esc(tutorial)} '
            f'trajectories" src="data:image/png;base64,{data}">')


def html_table(frame: pd.DataFrame, css: str, classes: pd.DataFrame | None = None,
               index: bool = False) -> str:
    """``frame`` as an HTML table, every cell escaped; ``classes`` (same shape) gives each
    cell its CSS class."""
    import pandas as pd

    shown = frame.reset_index() if index else frame
    head = "".join(f"<th>{_esc(c)}</th>" for c in shown.columns)
    rows = []
    for i in range(len(shown)):
        cells = []
        for j, column in enumerate(shown.columns):
            value = shown.iat[i, j]
            text = "" if value is None or (not isinstance(value, str) and pd.isna(value)) \
                else _esc(value)
            css_cell = "" if classes is None or column not in classes.columns \
                else str(classes.iat[i, classes.columns.get_loc(column)])
            cells.append(f'<td class="{_esc(css_cell)}">{text}</td>' if css_cell
                         else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="{_esc(css)}"><thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(rows) + "\n</tbody></table>")


def _html_failures(report: Report) -> list[str]:
    if not report.failures:
        return []
    items = [f'<li><span class="badge {_esc(f.css)}">{_esc(f.symbol)} {_esc(f.status)}</span> '
             f"<b>{_esc(f.port)}</b> [{_esc(f.device)}]: {_esc(f.headline)}</li>"
             for f in report.failures]
    details = [f"<details><summary>{_esc(failure_places(failures))}</summary>"
               f"<pre>{_esc(detail)}</pre></details>"
               for detail, failures in failure_details(report.failures).items()]
    return [f'<section class="failures"><h2>\u2716 Failures ({len(report.failures)})</h2>',
            "<ul>", *items, "</ul>", *details, "</section>"]


def render_html(report: Report) -> str:
    """The report as one HTML page with its plots embedded (no external resources)."""
    ok, verdict = verdict_line(report)
    body = [f"<h1>{_esc(_title(report))}</h1>",
            f'<p class="verdict {"ok" if ok else "fail"}">{_esc(verdict)}</p>',
            f'<p class="legend">{_esc(status_legend())}</p>', *_html_failures(report),
            "<h2>Summary</h2>"]
    matrix = framework_matrix(report.summary)
    if not matrix.empty:
        body.append(html_table(matrix, "matrix", matrix_classes(report.summary)))
    body += [html_table(display_summary(report.summary), "summary",
                        display_classes(report.summary)),
             f"<p>{_esc(NOTES)}</p>"]
    body.append("<h2>Trajectories</h2>")
    body += [f"<p>{_esc(note)}</p>" for note in report.notes]
    body += [_img(t, png) for t, png in report.plots.items()]
    for tutorial, table in report.continuations.items():
        body += [f"<h2>{_esc(tutorial)} continuations</h2>",
                 html_table(table, "continuation", index=True)]
    body += ["<h2>Environment</h2>", html_table(report.environment, "environment"),
             "<h2>Reproduce</h2>", f"<pre>{_esc(chr(10).join(report.commands))}</pre>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_esc(_title(report))}</title><style>{CSS}</style></head>\n"
            "<body>\n" + "\n".join(body) + "\n</body></html>\n")
