"""What the reader must look at first: every failure of a report's runs (regressions,
divergences, errors, refused goldens, followers outside the cross-framework tolerance), worst
first, each with a one-line reason and its detail, and the epochs the plots mark."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.compare import worst_ratio
from harness.golden import GoldenStore, record_command
from harness.registry import Registry
from harness.report._display import cross_outside, plain_text
from harness.report._messages import comparison_lines, worst_text
from harness.report._plots import Mark
from harness.report._runs import CROSS_DIR, RunSet
from harness.report._status import STATUSES, failure_status, golden_status, status_style

if TYPE_CHECKING:
    import pandas as pd

#: What the cross-framework failure reads as (it is no golden status).
CROSS_OUTSIDE = "OUTSIDE cross-framework tolerance"


@dataclass(frozen=True)
class Failure:
    """One thing the reader must look at: what failed, where, why in one line, and the
    detail (the obtained-vs-expected table or the error message)."""

    status: str
    symbol: str
    css: str
    port: str
    device: str
    headline: str
    detail: str
    #: the first epoch that left the golden (or went NaN), marked in the plots
    epoch: int | None = None


def plot_marks(failures: list[Failure], ports: list[str], several: bool
               ) -> dict[str, list[Mark]]:
    """Per port, the epochs where its runs left their golden or went NaN (plot labels)."""
    marks: dict[str, list[Mark]] = {}
    for f in failures:
        if f.port in ports and f.epoch is not None and f.status in ("REGRESSION", "DIVERGED"):
            where = f" [{f.device}]" if several else ""
            verb = "NaN at" if f.status == "DIVERGED" else "left its golden at"
            marks.setdefault(f.port, []).append(Mark(f.epoch, f"{verb} epoch {f.epoch}{where}"))
    return marks


def collect_failures(runs: RunSet, summary: pd.DataFrame, store: GoldenStore,
                     registry: Registry) -> list[Failure]:
    """Every failure, worst status first: runs that left, lost or could not use their
    golden, runs that could not be made, and followers outside the cross tolerance."""
    found = [*_golden_failures(runs, summary, store, registry), *_run_failures(runs),
             *_cross_failures(summary)]
    order = [*STATUSES, CROSS_OUTSIDE]
    return sorted(found, key=lambda f: (order.index(f.status) if f.status in order else -1,
                                        f.port, f.device))


def _failure(status: str, port: str, device: str, headline: str, detail: str,
             epoch: int | None = None) -> Failure:
    style = status_style(status)
    return Failure(status, style.symbol, style.css, port, device, plain_text(headline),
                   plain_text(detail), epoch)


def _golden_failures(runs: RunSet, summary: pd.DataFrame, store: GoldenStore,
                     registry: Registry) -> list[Failure]:
    """Runs that were made but left their golden (their run or their checkpoint segments),
    or could not be checked against it."""
    found = []
    for _, row in summary.iterrows():
        status, device = str(row["golden"]), str(row["device"])
        traj = runs.run(str(row["port"]), device)
        if not status_style(status).failing or traj is None:
            continue
        gold = golden_status(traj, store, registry)
        comp = gold.comparison
        if comp is None or gold.golden_path is None or comp.passed:
            # refused, not comparable, or the run passed and its segments did not
            found.append(_failure(status, traj.port_id, device, str(row["golden note"]), ""))
            continue
        worst = worst_ratio(comp, traj.outputs, gold.golden.outputs if gold.golden else None)
        first = ("outputs differ" if comp.first_divergent_epoch is None
                 else f"first divergent epoch {comp.first_divergent_epoch}")
        detail = [*comparison_lines(comp, gold.golden_path, verbose=True, worst=worst),
                  f"Fix: `rnn-harness check {traj.port_id} --profile {traj.profile} --device "
                  f"{device}` reproduces it and writes the obtained files beside the golden; "
                  "if the numbers moved on purpose, re-record with "
                  f"`{record_command(traj.port_id, traj.profile)}` and say why in the commit."]
        found.append(_failure(status, traj.port_id, device,
                              f"{first}, worst / tol {worst_text(worst)}", "\n".join(detail),
                              comp.first_divergent_epoch))
    return found


def _run_failures(runs: RunSet) -> list[Failure]:
    """Runs that could not be made (crash, divergence, missing corpus or device)."""
    found = []
    for f in runs.failures:
        what = (f"trained from {f.reference or 'the reference port'}'s initial weights: "
                if f.kind == CROSS_DIR else "")
        source = f" (saved in {f.source})" if f.source else ""
        found.append(_failure(failure_status(f), f.port_id, f.device,
                              f"{what}{f.message.splitlines()[0]}{source}", f.message,
                              f.epoch if f.kind != CROSS_DIR else None))
    return found


def _cross_failures(summary: pd.DataFrame) -> list[Failure]:
    """Followers whose run from the reference's weights is outside the cross tolerance,
    where the reference kept its golden (else the reference is the port that moved)."""
    return [Failure(CROSS_OUTSIDE, "\u2716", "cross-outside", str(row["port"]),
                    str(row["device"]),
                    f"{row['cross max rel diff']:.2g} from {row['cross partner']} at epoch "
                    f"{row['cross at epoch']} (rtol {row['cross rtol']:g})", "")
            for _, row in summary.iterrows() if cross_outside(row)]


def failure_details(failures: list[Failure]) -> dict[str, list[Failure]]:
    """Each distinct detail once, with the failures it explains (one corpus message for every
    port that reads the same missing file, not one copy per port)."""
    grouped: dict[str, list[Failure]] = {}
    for f in failures:
        if f.detail:
            grouped.setdefault(f.detail, []).append(f)
    return grouped


def failure_places(failures: list[Failure]) -> str:
    """'port [device], ...' of ``failures``, each once."""
    return ", ".join(dict.fromkeys(f"{f.port} [{f.device}]" for f in failures))
