"""The report's pandas tables: one summary row per port x device, every curve in long
form, and generated text side by side. pandas (the ``report`` extra) is imported inside
the functions, so ``harness`` imports without it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.golden import GoldenStore
from harness.interface import Trajectory
from harness.registry import Registry, default_registry
from harness.report._runs import RunFailure, RunSet
from harness.report._status import (
    cross_comparison,
    failed_run_golden,
    failure_status,
    golden_status,
    status_style,
)

if TYPE_CHECKING:
    import pandas as pd

SUMMARY_COLUMNS = (
    "tutorial", "port", "device", "framework", "variant", "version", "profile", "epochs",
    "metric", "final", "golden", "golden first divergent epoch", "golden max rel err",
    "golden note", "segments", "segments failed", "segments run", "segments first",
    "cross role", "cross partner", "cross max rel diff", "cross at epoch",
    "cross rtol", "cross within tol", "s/epoch", "items/s", "item")
CURVE_COLUMNS = ("tutorial", "port", "framework", "variant", "device", "kind", "metric",
                 "epoch", "value")
#: The output key of generated text: {prompt: continuation} (shown side by side per port).
CONTINUATIONS = "predictions"


#: "cross within tol" where the reference's own run left its golden: the distance is the
#: reference's move, not the follower's, and is not judged (the reference is blamed).
NOT_JUDGED = "not judged"


def _reference_moved(runs: RunSet, follower: Trajectory, store: GoldenStore,
                     registry: Registry) -> bool:
    """Whether the follower's reference run failed its own golden check."""
    reference = runs.run(follower.meta["reference_port"], follower.meta["device"])
    return reference is not None and status_style(
        golden_status(reference, store, registry).status).failing


def _cross_columns(runs: RunSet, traj: Trajectory, registry: Registry,
                   store: GoldenStore) -> dict[str, Any]:
    device = traj.meta["device"]
    follower = runs.transfer(traj.port_id, device) or next(
        (t for t in runs.transferred if t.meta.get("reference_port") == traj.port_id
         and t.meta.get("device") == device), None)
    empty = {"cross role": "", "cross partner": "", "cross max rel diff": np.nan,
             "cross at epoch": np.nan, "cross rtol": np.nan, "cross within tol": ""}
    comp = None if follower is None else cross_comparison(runs, follower, registry)
    if follower is None or comp is None:
        return empty
    is_follower = follower.port_id == traj.port_id
    partner = follower.meta["reference_port"] if is_follower else follower.port_id
    worst = max(comp.metrics, key=lambda m: m.max_rel_error)
    within = "yes" if comp.passed else (
        NOT_JUDGED if _reference_moved(runs, follower, store, registry) else "NO")
    return {"cross role": "follower" if is_follower else "reference", "cross partner": partner,
            "cross max rel diff": worst.max_rel_error, "cross at epoch": worst.worst_epoch,
            "cross rtol": worst.tolerance.rtol, "cross within tol": within}


def _segments_columns(segments: Mapping[str, Any] | None) -> dict[str, Any]:
    """The check's segment verdict (``harness.check.segments_summary``) as columns."""
    if not segments:
        return {"segments": "", "segments failed": None, "segments run": None,
                "segments first": ""}
    return {"segments": str(segments.get("status", "")),
            "segments failed": segments.get("failed"), "segments run": segments.get("segments"),
            "segments first": str(segments.get("first") or "")}


def _throughput(traj: Trajectory) -> tuple[float, float]:
    """(mean seconds per epoch, items per second over the whole run)."""
    wall = traj.timing.get("wall_s", np.zeros(0))
    if not len(wall):
        return np.nan, np.nan
    items = float(np.sum(traj.timing["items_per_s"] * wall))
    return float(np.mean(wall)), items / float(np.sum(wall))


def summary_row(runs: RunSet, traj: Trajectory, store: GoldenStore, registry: Registry
                ) -> dict[str, Any]:
    """One summary row: identity, final figure, golden status, cross distance, speed."""
    entry = registry.get(traj.port_id)
    spec = registry.spec(entry.tutorial)
    metric = spec.metrics[0]
    gold = golden_status(traj, store, registry)
    seconds, rate = _throughput(traj)
    versions = traj.meta.get("versions", {})
    return {
        "tutorial": entry.tutorial, "port": traj.port_id, "device": traj.meta.get("device"),
        "framework": entry.framework, "variant": entry.variant,
        "version": versions.get(entry.framework) or "",
        "profile": traj.profile, "epochs": traj.num_epochs, "metric": metric,
        "final": float(traj.metrics[metric][-1]) if traj.num_epochs else np.nan,
        "golden": gold.status,
        "golden first divergent epoch": gold.first_divergent_epoch,
        "golden max rel err": gold.max_rel_error,
        "golden note": gold.note,
        **_segments_columns(gold.segments),
        **_cross_columns(runs, traj, registry, store),
        "s/epoch": seconds, "items/s": rate, "item": spec.items,
    }


def failed_runs(runs: RunSet) -> list[RunFailure]:
    """The failed runs that get a summary row: one per port x device that has no run."""
    done = {(t.port_id, t.meta.get("device")) for t in runs.runs}
    chosen = []
    for f in runs.failures:
        if f.kind != "run" or (f.port_id, f.device) in done:
            continue
        done.add((f.port_id, f.device))
        chosen.append(f)
    return chosen


def _failure_rows(runs: RunSet, registry: Registry) -> Iterator[dict[str, Any]]:
    """DIVERGED or ERROR rows (the reason in the row) for runs that failed."""
    for f in failed_runs(runs):
        entry = registry.get(f.port_id)
        yield {"tutorial": entry.tutorial, "port": f.port_id, "device": f.device,
               "framework": entry.framework, "variant": entry.variant,
               "profile": runs.profile, "epochs": len(next(iter(f.partial.values()), [])) or None,
               "golden": failure_status(f), "golden first divergent epoch": f.epoch,
               "golden note": f.message.splitlines()[0]}


def summary_table(runs: RunSet, store: GoldenStore, registry: Registry | None = None
                  ) -> pd.DataFrame:
    """One row per port x device (failed runs included, status ERROR)."""
    import pandas as pd

    registry = registry or default_registry()
    rows = [summary_row(runs, t, store, registry) for t in runs.runs]
    rows += _failure_rows(runs, registry)
    table = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    for column in ("epochs", "golden first divergent epoch", "cross at epoch",
                   "segments failed", "segments run"):
        table[column] = table[column].astype("Int64")
    return table.sort_values(["tutorial", "port", "device"], kind="stable").reset_index(drop=True)


def _long_rows(port_id: str, metrics: Mapping[str, Iterable[float]], device: str, kind: str,
               registry: Registry) -> Iterator[dict[str, Any]]:
    entry = registry.get(port_id)
    for metric, values in metrics.items():
        for epoch, value in enumerate(values):
            yield {"tutorial": entry.tutorial, "port": port_id,
                   "framework": entry.framework, "variant": entry.variant,
                   "device": device, "kind": kind, "metric": metric,
                   "epoch": epoch, "value": float(value)}


def trajectory_table(runs: RunSet, store: GoldenStore, registry: Registry | None = None
                     ) -> pd.DataFrame:
    """Long table of every curve: kind is ``run``, ``golden`` or ``from <reference>``.

    A run that failed contributes the epochs it finished (kind ``run``) and its port's
    golden, so a diverged run still shows what it should have followed."""
    import pandas as pd

    registry = registry or default_registry()
    rows: list[dict[str, Any]] = []
    goldens: dict[str, Trajectory | None] = {}
    for traj in runs.runs:
        rows += _long_rows(traj.port_id, traj.metrics, traj.meta.get("device", ""), "run",
                           registry)
        if traj.port_id not in goldens:
            goldens[traj.port_id] = golden_status(traj, store, registry).golden
    for f in failed_runs(runs):
        rows += _long_rows(f.port_id, f.partial, f.device, "run", registry)
        if f.port_id not in goldens:
            goldens[f.port_id] = failed_run_golden(f, runs.profile, store, registry)
    for port_id, gold in goldens.items():
        if gold is not None:
            rows += _long_rows(port_id, gold.metrics, "", "golden", registry)
    for traj in runs.transferred:
        rows += _long_rows(traj.port_id, traj.metrics, traj.meta.get("device", ""),
                           f"from {traj.meta['reference_port']}", registry)
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def continuations_table(runs: RunSet, tutorial: str) -> pd.DataFrame:
    """The generated continuations of ``tutorial``'s runs: one row per prefix, one column
    per port (and device, when there are several)."""
    import pandas as pd

    chosen = [t for t in runs.runs if t.tutorial == tutorial
              and isinstance(t.outputs.get(CONTINUATIONS), dict)]
    several = len({t.meta.get("device") for t in chosen}) > 1
    columns = {}
    for t in chosen:
        name = f"{t.port_id} ({t.meta.get('device')})" if several else t.port_id
        columns[name] = pd.Series(t.outputs[CONTINUATIONS], dtype=object)
    table = pd.DataFrame(columns)
    table.index.name = "prefix"
    return table


def continuations_tables(runs: RunSet) -> dict[str, pd.DataFrame]:
    """``continuations_table`` of every tutorial whose runs generated text."""
    tutorials = dict.fromkeys(t.tutorial for t in runs.runs
                              if isinstance(t.outputs.get(CONTINUATIONS), dict))
    return {tutorial: continuations_table(runs, tutorial) for tutorial in tutorials}
