"""What a reader sees of the summary: numbers formatted, related columns merged, and the
tutorial x framework matrix (golden status and distance to the reference framework)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.backends import FRAMEWORKS, REFERENCE_FRAMEWORK

if TYPE_CHECKING:
    import pandas as pd

CROSS_HEADER = "cross-framework distance (same initial weights)"


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


def golden_cell(row: Any) -> str:
    """The golden status with its first divergent epoch or its reason."""
    status = str(row["golden"])
    if status == "REGRESSION":
        return f"REGRESSION from epoch {_fmt(row['golden first divergent epoch'], 'd')}"
    if status in ("no golden", "golden refused", "ERROR", "not comparable"):
        note = "" if _missing(row["golden note"]) else row["golden note"]
        return f"{status}: {note}" if note else status
    return status


def cross_cell(row: Any) -> str:
    """The largest relative distance to the cross-framework partner, where and vs what."""
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
            "golden": golden_cell(row),
            "golden max rel err": _fmt(row["golden max rel err"], ".2g"),
            CROSS_HEADER: cross_cell(row),
            "s/epoch": _fmt(row["s/epoch"], ".3g"),
            "throughput": "" if _missing(row["items/s"])
            else f"{_fmt(row['items/s'], ',.0f')} {text['item']}/s",
        })
    return pd.DataFrame(rows)


def _matrix_cell(row: Any) -> str:
    golden = str(row["golden"])
    if golden == "REGRESSION":
        golden = f"REGRESSION from epoch {_fmt(row['golden first divergent epoch'], 'd')}"
    if row["cross role"] != "follower":
        return golden
    verdict = "within" if row["cross within tol"] == "yes" else "OUTSIDE"
    partner = str(row["cross partner"]).split("/", 1)[-1]
    return (f"{golden}; {_fmt(row['cross max rel diff'], '.2g')} from {partner} "
            f"({verdict} rtol {_fmt(row['cross rtol'], 'g')})")


def framework_matrix(summary: pd.DataFrame) -> pd.DataFrame:
    """Tutorial (and variant) x framework: each cell the golden status and, for a follower
    framework, its distance to the reference framework's run from the same weights."""
    import pandas as pd

    if summary.empty:
        return pd.DataFrame()
    several = summary["device"].nunique() > 1
    cells: dict[str, dict[str, list[str]]] = {}
    for _, row in summary.iterrows():
        variant = "" if _missing(row["variant"]) else str(row["variant"])
        name = f"{row['tutorial']} ({variant})" if variant else str(row["tutorial"])
        text = _matrix_cell(row)
        text = f"{row['device']}: {text}" if several else text
        cells.setdefault(name, {}).setdefault(str(row["framework"]), []).append(text)
    present = set(summary["framework"])
    order = [fw for fw in (REFERENCE_FRAMEWORK, *FRAMEWORKS) if fw in present]
    order += sorted(present - set(order))
    columns = {f"{fw} (reference)" if fw == REFERENCE_FRAMEWORK else fw: fw
               for fw in dict.fromkeys(order)}
    table = pd.DataFrame([{"tutorial": name, **{col: " / ".join(by_fw.get(fw, [])) or "-"
                                                for col, fw in columns.items()}}
                          for name, by_fw in cells.items()])
    return table
