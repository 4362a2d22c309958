"""Text for humans: the obtained-vs-expected table and the regression message of a run that
left its golden (formatting only; the comparison is ``harness.compare``'s data)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tabulate import tabulate

from harness.check import divergence_notes
from harness.compare import Comparison, MetricComparison, relative_error
from harness.golden import record_command
from harness.interface import within

if TYPE_CHECKING:
    from harness.check import CheckResult

MAX_ROWS = 20


def _window(m: MetricComparison, rows: int) -> range:
    """Up to ``rows`` epochs starting a little before the first divergence (or the worst)."""
    n = min(len(m.obtained), len(m.expected))
    focus = m.first_divergent_epoch if m.first_divergent_epoch is not None else (m.worst_epoch or 0)
    start = max(0, min(focus - 3, n - rows))
    return range(start, min(n, start + rows))


def metric_table(m: MetricComparison, rows: int = MAX_ROWS) -> str:
    """Epoch, obtained, expected, abs and rel difference, and whether it is within tolerance."""
    epochs = list(_window(m, rows))
    rel = relative_error(m.obtained, m.expected)
    n = min(len(m.obtained), len(m.expected))
    inside = within(m.obtained[:n], m.expected[:n], m.tolerance)
    gated = m.tolerance.gated(n)
    body = []
    for e in epochs:
        diff = abs(m.obtained[e] - m.expected[e])
        status = ("ok" if inside[e] else "DIVERGED") if e < gated else "not gated"
        body.append([e, repr(float(m.obtained[e])), repr(float(m.expected[e])), f"{diff:.3g}",
                     f"{rel[e]:.3g}", status])
    return tabulate(body, headers=["epoch", "obtained", "expected", "abs diff", "rel diff", ""],
                    disable_numparse=True)


def comparison_lines(comp: Comparison, golden_path: object) -> list[str]:
    """The first divergent epoch and the first quantity off its tolerance (with both
    values), every differing output, then per figure (and per failing observable) its errors
    and, where it failed, the obtained-vs-expected table: the body of a regression message,
    without the fix."""
    lines = [f"Regression: {comp.port_id} ({comp.profile}) does not match its golden"
             + (f"; first divergent epoch {comp.first_divergent_epoch}."
                if comp.first_divergent_epoch is not None else ".")]
    lines.append(f"  golden: {golden_path}")
    lines += [f"  {note}" for note in divergence_notes(comp)]
    if not comp.length_ok:
        lines.append(f"  epochs: obtained {comp.obtained_epochs}, expected {comp.expected_epochs}")
    for m in (*comp.metrics, *(o for o in comp.observables if not o.passed)):
        tol = m.tolerance
        lines.append(f"  {m.metric}: max abs error {m.max_abs_error:.3g}, max rel error "
                     f"{m.max_rel_error:.3g} (tolerance rtol={tol.rtol:g}, atol={tol.atol:g})")
        if not m.passed:
            lines.append(metric_table(m))
    return lines


def regression_message(comp: Comparison, golden_path: object,
                       obtained_path: object = "beside") -> str:
    """One paragraph naming the first divergent epoch, then the table(s), then the fix.
    ``obtained_path``: where the obtained files went (None: nowhere; by default beside
    the golden), so the fix line says where they really are."""
    if obtained_path == "beside" or obtained_path == golden_path:
        saved = "the run is saved as *.obtained.* beside the golden"
    elif obtained_path is None:
        saved = "the run could not be saved: see the note above"
    else:
        saved = f"the run is saved as *.obtained.* in {obtained_path}"
    return "\n".join([
        *comparison_lines(comp, golden_path),
        f"Fix: if the change is a bug, fix it ({saved}). If the numbers moved on purpose, "
        f"re-record with `{record_command(comp.port_id, comp.profile)}` and say why in the "
        "commit."])


def check_message(result: CheckResult) -> str:
    """Why ``result`` (``harness.check``) failed, for an assertion: the run's regression
    message, each failed segment's first divergence, and the errors that stopped a part."""
    from harness.golden import record_segments_command

    req = result.request
    parts: list[str] = []
    verdict = result.verdict
    if verdict is not None and not verdict.passed:
        parts.append(regression_message(verdict.comparison, verdict.golden_path,
                                        verdict.obtained_path))
    failed = result.failed_segments
    if failed:
        parts.append("\n".join([
            f"Regression: {len(failed)} of {len(result.segments or ())} checkpoint segments "
            f"of {req.port_id} left their tolerance.",
            *(f"  {v.describe()}" for v in failed[:MAX_ROWS]),
            *(f"  note: {n}" for n in result.segment_notes),
            "Fix: if the change is a bug, fix it. If the numbers moved on purpose, re-record "
            f"the tutorial golden and then `{record_segments_command(req.port_id)}`, and say "
            "why in the commit."]))
    parts += [f"{e.part}: {e.error}" for e in result.errors]
    return "\n\n".join(parts) or f"{req.port_id} ({req.profile}) passed its check."
