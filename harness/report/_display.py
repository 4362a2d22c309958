"""What a reader sees of the summary: numbers formatted, related columns merged, each golden
status with its symbol (and CSS class for HTML), and the tutorial x framework matrix (golden
status and distance to the reference framework)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from harness.backends import FRAMEWORKS, REFERENCE_FRAMEWORK
from harness.report._status import STATUSES, status_style

if TYPE_CHECKING:
    import pandas as pd

CROSS_HEADER = "cross-framework distance (same initial weights)"
#: numpy >= 2 writes a scalar's repr as ``np.float64(2.83)``: text made elsewhere (an error
#: message, a note) may hold one; the report shows the number alone
_NUMPY_REPR = re.compile(r"\bnp\.(?:float|int|uint|complex)\d*\(([-+.\w]+)\)")


def plain_text(text: str) -> str:
    """``text`` with numpy scalar reprs (``np.float64(2.83)``) written as plain numbers."""
    return _NUMPY_REPR.sub(r"\1", text)


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _fmt(value: Any, spec: str) -> str:
    if _missing(value):
        return ""
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return plain_text(str(value))


def _text(value: Any) -> str:
    return "" if _missing(value) else plain_text(str(value))


def status_label(status: str, row: Any) -> str:
    """The status as a reader scans it: symbol, status, and where it went wrong."""
    symbol = status_style(status).symbol
    epoch = row.get("golden first divergent epoch")
    if status == "REGRESSION" and not _missing(epoch):
        return f"{symbol} REGRESSION from epoch {_fmt(epoch, 'd')}"
    if status == "DIVERGED" and not _missing(epoch):
        return f"{symbol} DIVERGED at epoch {_fmt(epoch, 'd')}"
    return f"{symbol} {status}"


def golden_cell(row: Any) -> str:
    """The golden status with its symbol, first divergent epoch and short reason."""
    status = str(row["golden"])
    note = _text(row["golden note"])
    label = status_label(status, row)
    # a regression's or divergence's reason is its epoch; the detail is under Failures. A
    # failure of the checkpoint segments alone (the run passed) is shown in their column
    if _text(row.get("segments")) not in ("", "pass") and str(row.get("golden")) == _text(
            row.get("segments")) and _missing(row.get("golden first divergent epoch")):
        return f"{label} in its checkpoint segments"
    return f"{label}: {note}" if note and status not in ("pass", "REGRESSION",
                                                         "DIVERGED") else label


def cross_outside(row: Any) -> bool:
    """Whether ``row`` is a follower outside the cross-framework tolerance of a reference
    that kept its golden (where the reference moved, the distance is not judged)."""
    return row["cross role"] == "follower" and row["cross within tol"] == "NO"


def _cross_verdict(row: Any) -> str:
    within = row["cross within tol"]
    if within == "yes":
        return f"within rtol {_fmt(row['cross rtol'], 'g')}"
    if within == "NO":
        return f"OUTSIDE rtol {_fmt(row['cross rtol'], 'g')}"
    reference = row["port"] if row["cross role"] == "reference" else row["cross partner"]
    return f"not judged: {reference} left its golden"


def cross_cell(row: Any) -> str:
    """The largest relative distance to the cross-framework partner, where and vs what."""
    if _missing(row["cross partner"]) or not row["cross partner"]:
        return ""
    return (f"{_fmt(row['cross max rel diff'], '.2g')} at epoch "
            f"{_fmt(row['cross at epoch'], 'd')} vs {row['cross partner']} "
            f"({_cross_verdict(row)})")


def _cross_class(row: Any) -> str:
    if _missing(row["cross partner"]) or not row["cross partner"]:
        return ""
    return "cross-outside" if row["cross within tol"] == "NO" else "cross-within"


def segments_cell(row: Any) -> str:
    """The checkpoint segments' verdict: symbol, status, how many failed of how many, and
    the first failure (as ``check`` prints it); empty where none was replayed."""
    status = _text(row.get("segments"))
    if not status:
        return ""
    run, failed = row.get("segments run"), row.get("segments failed")
    if status == "pass":
        return f"{status_style(status).symbol} pass ({_fmt(run, 'd')})"
    counted = f" {_fmt(failed, 'd')} of {_fmt(run, 'd')}" if not _missing(run) and run else ""
    first = _text(row.get("segments first"))
    return f"{status_style(status).symbol} {status}{counted}" + (f": {first}" if first else "")


def display_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with numbers formatted and related columns merged, for reading."""
    import pandas as pd

    if summary.empty:
        return summary
    rows = []
    for _, row in summary.iterrows():
        text = {k: _text(v) for k, v in row.items()}
        rows.append({
            "port": text["port"], "device": text["device"],
            "framework": f"{text['framework']} {text['version']}".strip(),
            "profile": text["profile"], "epochs": _fmt(row["epochs"], "d"),
            "final": f"{text['metric']} {_fmt(row['final'], '.5g')}".strip(),
            "golden": golden_cell(row),
            "golden max rel err": _fmt(row["golden max rel err"], ".2g"),
            "checkpoint segments": segments_cell(row),
            CROSS_HEADER: cross_cell(row),
            "s/epoch": _fmt(row["s/epoch"], ".3g"),
            "throughput": "" if _missing(row["items/s"])
            else f"{_fmt(row['items/s'], ',.0f')} {text['item']}/s",
        })
    return pd.DataFrame(rows)


def display_classes(summary: pd.DataFrame) -> pd.DataFrame:
    """CSS classes for ``display_summary``'s cells (same shape): the golden status colour
    and whether the cross-framework distance is within its tolerance."""
    import pandas as pd

    shown = display_summary(summary)
    classes = pd.DataFrame("", index=shown.index, columns=shown.columns)
    if summary.empty:
        return classes
    for i, (_, row) in enumerate(summary.iterrows()):
        classes.iloc[i, classes.columns.get_loc("golden")] = status_style(
            str(row["golden"])).css
        classes.iloc[i, classes.columns.get_loc(CROSS_HEADER)] = _cross_class(row)
        if _text(row.get("segments")):
            classes.iloc[i, classes.columns.get_loc("checkpoint segments")] = status_style(
                str(row["segments"])).css
    return classes


def _matrix_cell(row: Any) -> str:
    golden = status_label(str(row["golden"]), row)
    if row["cross role"] != "follower":
        return golden
    partner = str(row["cross partner"]).split("/", 1)[-1]
    return (f"{golden} \u00b7 {_fmt(row['cross max rel diff'], '.2g')} from {partner} "
            f"({_cross_verdict(row)})")


def _rank(status: str) -> int:
    order = list(STATUSES)
    return order.index(status) if status in order else -1  # unknown: worst


def _matrix_cells(summary: pd.DataFrame) -> tuple[dict[str, str], dict[str, dict[str, list]]]:
    """(column title -> framework, tutorial -> framework -> [(status, outside, text)])."""
    several = summary["device"].nunique() > 1
    cells: dict[str, dict[str, list]] = {}
    for _, row in summary.iterrows():
        variant = "" if _missing(row["variant"]) else str(row["variant"])
        name = f"{row['tutorial']} ({variant})" if variant else str(row["tutorial"])
        text = _matrix_cell(row)
        text = f"{row['device']}: {text}" if several else text
        outside = cross_outside(row)
        cells.setdefault(name, {}).setdefault(str(row["framework"]), []).append(
            (str(row["golden"]), outside, text))
    present = set(summary["framework"])
    order = [fw for fw in (REFERENCE_FRAMEWORK, *FRAMEWORKS) if fw in present]
    order += sorted(present - set(order))
    columns = {f"{fw} (reference)" if fw == REFERENCE_FRAMEWORK else fw: fw
               for fw in dict.fromkeys(order)}
    return columns, cells


def framework_matrix(summary: pd.DataFrame) -> pd.DataFrame:
    """Tutorial (and variant) x framework: each cell the golden status (symbol first) and,
    for a follower framework, its distance to the reference framework's run from the same
    weights, within or OUTSIDE the spec's cross-framework tolerance."""
    import pandas as pd

    if summary.empty:
        return pd.DataFrame()
    columns, cells = _matrix_cells(summary)
    return pd.DataFrame([{"tutorial": name,
                          **{col: " / ".join(t for _, _, t in by_fw.get(fw, [])) or "-"
                             for col, fw in columns.items()}}
                         for name, by_fw in cells.items()])


def matrix_classes(summary: pd.DataFrame) -> pd.DataFrame:
    """CSS classes for ``framework_matrix``'s cells (same shape): the worst golden status
    in the cell, plus ``cross-outside`` when a distance is outside its tolerance."""
    import pandas as pd

    if summary.empty:
        return pd.DataFrame()
    columns, cells = _matrix_cells(summary)
    rows = []
    for by_fw in cells.values():
        row = {"tutorial": ""}
        for col, fw in columns.items():
            found = by_fw.get(fw, [])
            worst = min((status for status, _, _ in found), key=_rank, default=None)
            css = "" if worst is None else status_style(worst).css
            if any(outside for _, outside, _ in found):
                css += " cross-outside"
            row[col] = css.strip()
        rows.append(row)
    return pd.DataFrame(rows)
