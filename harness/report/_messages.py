"""Text for humans: the regression message of a run that left its golden (what failed
first, the worst quantity in units of its tolerance, where to look) and, asked for, every
epoch's obtained-vs-expected table (formatting only; the numbers are ``harness.compare``'s)."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import TYPE_CHECKING

from tabulate import tabulate

from harness.check import divergence_notes
from harness.compare import Comparison, MetricComparison, Worst, tolerance_ratio, worst_ratio
from harness.golden import record_command

if TYPE_CHECKING:
    from harness.check import CheckResult

#: How many failed segments a message names one by one before "and N more".
FIRST_SEGMENTS = 1
#: The word for a value outside its tolerance; DIVERGED is kept for NaN and inf.
OFF = "off"
DIVERGED = "DIVERGED"


def ratio_text(ratio: float) -> str:
    """A tolerance ratio as a table shows it: NaN and inf spelled out, 0 as 0."""
    if math.isnan(ratio):
        return "NaN"
    if math.isinf(ratio):
        return "inf"
    return "0" if ratio == 0 else f"{ratio:.2g}"


def worst_text(worst: Worst | None) -> str:
    """``9.9e+06 loss``: the worst ratio and the quantity it belongs to."""
    return "" if worst is None else f"{ratio_text(worst.ratio)} {worst.quantity}"


def row_status(obtained: float, ratio: float, gated: bool) -> str:
    """ok, off (outside its tolerance), DIVERGED (NaN or inf) or not gated."""
    if not math.isfinite(obtained):
        return DIVERGED
    if not gated:
        return "not gated"
    return "ok" if ratio <= 1.0 else OFF


def metric_table(m: MetricComparison) -> str:
    """Every epoch both sides have: obtained, expected, abs difference, the error in units
    of the tolerance (above 1: off), and ok / off / DIVERGED / not gated."""
    n = min(len(m.obtained), len(m.expected))
    ratio = tolerance_ratio(m.obtained[:n], m.expected[:n], m.tolerance)
    gated = m.tolerance.gated(n)
    body = [[e, repr(float(m.obtained[e])), repr(float(m.expected[e])),
             f"{abs(m.obtained[e] - m.expected[e]):.3g}", ratio_text(float(ratio[e])),
             row_status(float(m.obtained[e]), float(ratio[e]), e < gated)] for e in range(n)]
    return tabulate(body, headers=["epoch", "obtained", "expected", "abs diff", "err / tol", ""],
                    disable_numparse=True)


def _worst_line(comp: Comparison, worst: Worst | None) -> list[str]:
    """The worst quantity in units of its tolerance, and every other column that left it."""
    if worst is None or not worst.outside:
        return []
    where = "" if worst.epoch is None else f" at epoch {worst.epoch}"
    also = [m.metric for m in comp.columns if not m.passed and m.metric != worst.quantity]
    also += [f"output {o.name}" for o in comp.failed_outputs
             if not worst.quantity.startswith(f"output {o.name}")]
    return [f"  worst: {worst.quantity}{where}, {ratio_text(worst.ratio)} x its tolerance"
            + (f"; also off: {', '.join(also)}" if also else "")]


def comparison_lines(comp: Comparison, golden_path: object, *, verbose: bool = False,
                     worst: Worst | None = None) -> list[str]:
    """The first divergent epoch and the first quantity off its tolerance (with both
    values), every differing output and the worst quantity in units of its tolerance: the
    body of a regression message, without the fix. ``verbose``: then each figure's (and
    each failing observable's) errors and, where it failed, its table of every epoch."""
    lines = [f"Regression: {comp.port_id} ({comp.profile}) does not match its golden"
             + (f"; first divergent epoch {comp.first_divergent_epoch}."
                if comp.first_divergent_epoch is not None else ".")]
    lines.append(f"  golden: {golden_path}")
    lines += [f"  {note}" for note in divergence_notes(comp)]
    if not comp.length_ok:
        lines.append(f"  epochs: obtained {comp.obtained_epochs}, expected {comp.expected_epochs}")
    lines += _worst_line(comp, worst if worst is not None else worst_ratio(comp))
    if not verbose:
        return lines
    for m in (*comp.metrics, *(o for o in comp.observables if not o.passed)):
        tol = m.tolerance
        lines.append(f"  {m.metric}: max abs error {m.max_abs_error:.3g}, max rel error "
                     f"{m.max_rel_error:.3g} (tolerance rtol={tol.rtol:g}, atol={tol.atol:g})")
        if not m.passed:
            lines.append(metric_table(m))
    return lines


def check_command(port_id: str, profile: str) -> str:
    return f"rnn-harness check {port_id} --profile {profile}"


def regression_message(comp: Comparison, golden_path: object,
                       obtained_path: object = "beside", *, verbose: bool = False,
                       worst: Worst | None = None) -> str:
    """One paragraph: the first divergent epoch and quantity, the worst quantity in units of
    its tolerance, then the fix and where to look (``verbose``: every failing column's table
    before the fix). ``obtained_path``: where the obtained files went (None: nowhere; by
    default beside the golden), so the fix line says where they really are."""
    if obtained_path == "beside" or obtained_path == golden_path:
        saved = "the run is saved as *.obtained.* beside the golden"
    elif obtained_path is None:
        saved = "the run could not be saved: see the note above"
    else:
        saved = f"the run is saved as *.obtained.* in {obtained_path}"
    more = "" if verbose else (f"; `{check_command(comp.port_id, comp.profile)} -v` prints "
                               "every epoch")
    return "\n".join([
        *comparison_lines(comp, golden_path, verbose=verbose, worst=worst),
        f"Fix: if the change is a bug, fix it ({saved}{more}). If the numbers moved on "
        f"purpose, re-record with `{record_command(comp.port_id, comp.profile)}` and say why "
        "in the commit."])


def segments_message(result: CheckResult, *, verbose: bool = False,
                     shown: Collection[str] = ()) -> str:
    """The failed checkpoint segments of ``result``: how many, the first one's first
    divergence (``verbose``: every one's), the others' first divergent epochs, their notes
    but those already ``shown`` (the run's, where the same), the fix."""
    from harness.golden import record_segments_command

    req, failed = result.request, result.failed_segments
    named = failed if verbose else failed[:FIRST_SEGMENTS]
    rest = [str(v.divergence.epoch) for v in failed[len(named):] if v.divergence is not None]
    more = (f"  and {len(rest)} more segment{'s' if len(rest) > 1 else ''} (first divergent "
            f"epochs: {', '.join(rest[:12])}{', ...' if len(rest) > 12 else ''})")
    every = "" if verbose else (f"; `{check_command(req.port_id, req.profile)} -v` lists "
                                "every segment")
    return "\n".join([
        f"Regression: {len(failed)} of {len(result.segments or ())} checkpoint segments of "
        f"{req.port_id} left their tolerance.",
        *(f"  {v.describe()}" for v in named), *([more] if rest else []),
        *(f"  note: {n}" for n in result.segment_notes if n not in shown),
        f"Fix: if the change is a bug, fix it{every}. If the numbers moved on purpose, "
        f"re-record the tutorial golden and then `{record_segments_command(req.port_id)}`, "
        "and say why in the commit."])


def check_message(result: CheckResult, *, verbose: bool = False) -> str:
    """Why ``result`` (``harness.check``) failed, for an assertion: the run's regression
    message, the failed segments (the first one's divergence; ``verbose``: every one's and
    every epoch's table), and the errors that stopped a part."""
    req = result.request
    parts: list[str] = []
    verdict = result.verdict
    if verdict is not None and not verdict.passed:
        parts.append(regression_message(
            verdict.comparison, verdict.golden_path, verdict.obtained_path, verbose=verbose,
            worst=worst_ratio(verdict.comparison, verdict.obtained.outputs,
                              verdict.expected.outputs)))
    if result.failed_segments:
        parts.append(segments_message(result, verbose=verbose))
    parts += [f"{e.part}: {e.error}" for e in result.errors]
    return "\n\n".join(parts) or f"{req.port_id} ({req.profile}) passed its check."
