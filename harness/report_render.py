"""The report's files: ``report.md``, a self-contained ``report.html`` (plots as base64 PNG)
and the CSVs, from the tables of ``report_build``. pandas renders every table.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import UsageError
from harness.golden import GoldenStore
from harness.registry import Registry, default_registry
from harness.report_build import (
    RunSet,
    continuations_table,
    load_envelope,
    summary_table,
    trajectory_table,
)
from harness.report_plots import plot_tutorial

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
    "cross-framework: the other framework's port trained from this port's reference's "
    "initial weights (torch), max relative trajectory difference over the gated epochs, the "
    "epoch where it is reached, against the spec's cross_framework tolerance. "
    "s/epoch: mean wall time per epoch; throughput over the whole run (first epoch included)."
)


@dataclass(frozen=True)
class Report:
    """The tables and figures of one report, ready to render."""

    runs: RunSet
    summary: pd.DataFrame
    curves: pd.DataFrame
    continuations: pd.DataFrame
    environment: pd.DataFrame
    plots: dict[str, bytes]
    commands: list[str]


def build_report(runs: RunSet, store: GoldenStore, registry: Registry | None = None
                 ) -> Report:
    """Build every table and figure (no files written)."""
    registry = registry or default_registry()
    curves = trajectory_table(runs, store, registry)
    plots = {}
    for tutorial in dict.fromkeys(curves["tutorial"]):
        ports = set(curves.loc[curves["tutorial"] == tutorial, "port"])
        envelopes = {p: env for p in ports
                     if (env := load_envelope(store, p, runs.profile)) is not None}
        spec = registry.spec(tutorial)
        horizons = {m: spec.tolerance(m).horizon for m in spec.metrics}
        plots[tutorial] = plot_tutorial(curves, tutorial, envelopes, horizons)
    extra = {"report built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "harness commit": _git_commit(), **_report_versions()}
    return Report(runs, summary_table(runs, store, registry), curves,
                  continuations_table(runs), environment_table(runs, extra), plots,
                  reproduce_commands(runs))


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def _report_versions() -> dict[str, str]:
    versions = {}
    for dist in ("pandas", "matplotlib", "tabulate"):
        try:
            versions[f"report: {dist}"] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions


def reproduce_commands(runs: RunSet) -> list[str]:
    """The exact commands that remake this report's runs and check them."""
    ports = sorted({t.port_id for t in runs.runs} | {f.port_id for f in runs.failures})
    devices = sorted({t.meta.get("device", "cpu") for t in runs.runs} or {"cpu"})
    dev = " ".join(f"--device {d}" for d in devices)
    lines = [f"git checkout {_git_commit().removesuffix('-dirty')}",
             "python -m pip install -e '.[torch,mxnet,report]'"]
    if any(p.startswith("char_rnn/") for p in ports):
        lines.append("export RNN_HARNESS_DATA=/folder/holding/timemachine.txt")
    lines.append(runs.command or f"rnn-harness report {' '.join(ports)} --profile "
                 f"{runs.profile} {dev} --out report")
    lines += [f"rnn-harness check {p} --profile {runs.profile} {dev}" for p in ports]
    return lines


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
            fix="fix the failures above (install the framework, set RNN_HARNESS_DATA, ...).")
    return write_report(build_report(runs, store, registry), out)


def _flat(meta: Mapping[str, Any]) -> dict[str, str]:
    flat = {k: str(meta[k]) for k in ("python", "platform", "processor", "device") if k in meta}
    flat.update({f"version {k}": str(v) for k, v in meta.get("versions", {}).items() if v})
    flat.update({f"threads {k}": str(v) for k, v in meta.get("threads", {}).items()
                 if v is not None})
    return flat


def environment_table(runs: RunSet, extra: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Versions, threads and devices the runs recorded; a setting that differs between runs
    lists every value with the runs that had it (the most common one last)."""
    import pandas as pd

    seen: dict[str, dict[str, list[str]]] = {}
    for traj in [*runs.runs, *runs.transferred]:
        kind = " (transferred)" if traj.meta.get("reference_port") else ""
        for key, value in _flat(traj.meta).items():
            seen.setdefault(key, {}).setdefault(value, []).append(traj.port_id + kind)
    rows = [{"setting": k, "value": v} for k, v in (extra or {}).items()]
    for key, values in seen.items():
        ordered = sorted(values.items(), key=lambda kv: len(kv[1]))
        for i, (value, ports) in enumerate(ordered):
            where = ("" if len(values) == 1 else f" (the other {len(ports)} runs)"
                     if i == len(ordered) - 1 else f" ({', '.join(sorted(ports))})")
            rows.append({"setting": key, "value": value + where})
    return pd.DataFrame(rows, columns=["setting", "value"])


# ---------------------------------------------------------------- display tables


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _fmt(value: Any, spec: str) -> str:
    if _missing(value):
        return ""
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def _golden_cell(row: Any) -> str:
    status = str(row["golden"])
    if status == "REGRESSION":
        return f"REGRESSION from epoch {_fmt(row['golden first divergent epoch'], 'd')}"
    if status in ("no golden", "golden refused", "ERROR", "not comparable"):
        note = "" if _missing(row["golden note"]) else row["golden note"]
        return f"{status}: {note}" if note else status
    return status


def _cross_cell(row: Any) -> str:
    if _missing(row["cross partner"]) or not row["cross partner"]:
        return ""
    return (f"{_fmt(row['cross max rel diff'], '.2g')} at epoch "
            f"{_fmt(row['cross at epoch'], 'd')} vs {row['cross partner']} "
            f"(rtol {_fmt(row['cross rtol'], 'g')}: {row['cross within tol']})")


def display_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with numbers formatted and related columns merged, for reading."""
    import pandas as pd

    if summary.empty:
        return summary
    rows = []
    for _, row in summary.iterrows():
        text = {k: "" if _missing(v) else str(v) for k, v in row.items()}
        rows.append({
            "port": text["port"], "device": text["device"],
            "framework": f"{text['framework']} {text['version']}".strip(),
            "profile": text["profile"], "epochs": _fmt(row["epochs"], "d"),
            "final": f"{text['metric']} {_fmt(row['final'], '.5g')}".strip(),
            "golden": _golden_cell(row),
            "golden max rel err": _fmt(row["golden max rel err"], ".2g"),
            "cross-framework distance (same initial weights)": _cross_cell(row),
            "s/epoch": _fmt(row["s/epoch"], ".3g"),
            "throughput": "" if _missing(row["items/s"])
            else f"{_fmt(row['items/s'], ',.0f')} {text['item']}/s",
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- files


def write_report(report: Report, out: str | Path) -> dict[str, Path]:
    """Write ``report.md``, ``report.html``, the CSVs and ``plots/*.png`` into ``out``."""
    folder = Path(out)
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    paths = {"summary.csv": folder / "summary.csv",
             "trajectories.csv": folder / "trajectories.csv"}
    report.summary.to_csv(paths["summary.csv"], index=False)
    report.curves.to_csv(paths["trajectories.csv"], index=False)
    if not report.continuations.empty:
        paths["continuations.csv"] = folder / "continuations.csv"
        report.continuations.to_csv(paths["continuations.csv"])
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
    return [f"{f.port_id} [{f.device}] ({f.kind}): {f.message}" for f in runs.failures]


def _failures(report: Report) -> list[str]:
    return _failure_lines(report.runs)


def render_markdown(report: Report) -> str:
    """The report as GitHub Markdown (plots referenced as plots/<tutorial>.png)."""
    parts = [f"# {_title(report)}", "", "## Summary", "",
             display_summary(report.summary).to_markdown(index=False), "", NOTES, ""]
    if report.runs.failures:
        parts += ["### Failures", "", "```text", *_failures(report), "```", ""]
    parts += ["## Trajectories", ""]
    for tutorial in report.plots:
        parts += [f"### {tutorial}", "", f"![{tutorial}](plots/{tutorial}.png)", ""]
    if not report.continuations.empty:
        parts += ["## char_rnn continuations", "", report.continuations.to_markdown(), ""]
    parts += ["## Environment", "", report.environment.to_markdown(index=False), "",
              "## Reproduce", "", "```bash", *report.commands, "```", ""]
    return "\n".join(parts)


def _img(tutorial: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<h3>{html.escape(tutorial)}</h3>\n<img alt="{html.escape(tutorial)} '
            f'trajectories" src="data:image/png;base64,{data}">')


def render_html(report: Report) -> str:
    """The report as one HTML page with its plots embedded (no external resources)."""
    summary = display_summary(report.summary).to_html(index=False, classes="summary",
                                                      border=0, na_rep="")
    body = [f"<h1>{html.escape(_title(report))}</h1>", "<h2>Summary</h2>", summary,
            f"<p>{html.escape(NOTES)}</p>"]
    if report.runs.failures:
        body += ["<h3>Failures</h3>",
                 f"<pre>{html.escape(chr(10).join(_failures(report)))}</pre>"]
    body += ["<h2>Trajectories</h2>", *(_img(t, png) for t, png in report.plots.items())]
    if not report.continuations.empty:
        body += ["<h2>char_rnn continuations</h2>",
                 report.continuations.to_html(classes="continuation", border=0)]
    body += ["<h2>Environment</h2>",
             report.environment.to_html(index=False, classes="environment", border=0),
             "<h2>Reproduce</h2>", f"<pre>{html.escape(chr(10).join(report.commands))}</pre>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(_title(report))}</title><style>{CSS}</style></head>\n"
            "<body>\n" + "\n".join(body) + "\n</body></html>\n")
