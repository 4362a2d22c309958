"""Seed envelopes as text: where a run leaves its band, why the new seeds' outcomes read
as shifted, and what an envelope without outcomes says instead."""

from __future__ import annotations

from collections.abc import Sequence

from harness.compare import STAT_TEST, EnvelopeVerdict, OutcomeVerdict
from harness.golden import record_envelope_command


def epoch_ranges(epochs: Sequence[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"``."""
    groups: list[list[int]] = []
    for e in epochs:
        if groups and e == groups[-1][-1] + 1:
            groups[-1].append(e)
        else:
            groups.append([e])
    return ", ".join(str(g[0]) if len(g) == 1 else f"{g[0]}-{g[-1]}" for g in groups)


def verdict_message(verdict: EnvelopeVerdict, path: object, rows: int = 20) -> str:
    """Where the run leaves the envelope: the epochs, then obtained against the band."""
    lines = [f"Regression: {verdict.port_id} ({verdict.profile}) leaves its {verdict.seeds}-seed "
             f"envelope at epoch(s) {epoch_ranges(verdict.outside_epochs) or '-'}.",
             f"  envelope: {path}"]
    if verdict.obtained_epochs != verdict.expected_epochs:
        lines.append(f"  epochs: obtained {verdict.obtained_epochs}, "
                     f"envelope {verdict.expected_epochs}")
    for m in verdict.metrics:
        lines += [f"  {m.metric}: epoch {e}: obtained {float(m.obtained[e])!r}, band "
                  f"[{m.lower[e]:.6g}, {m.upper[e]:.6g}]" for e in m.outside[:rows]]
    lines.append("Fix: a run outside the spread of seeds is more than rounding noise: find "
                 "the change. If it is deliberate, re-record the envelope and the golden.")
    return "\n".join(lines)


def outcome_message(verdict: OutcomeVerdict, path: object) -> str:
    """Why the new seeds' outcomes are judged shifted: every test, obtained against recorded."""
    n = {t.recorded.size for t in verdict.tests}
    k = {t.new.size for t in verdict.tests}
    lines = [f"Regression: {verdict.port_id} ({verdict.profile}): the outcomes of "
             f"{'/'.join(map(str, k))} new seeds are {verdict.summary()} against the "
             f"{'/'.join(map(str, n))} seeds of its envelope ({STAT_TEST}, alpha "
             f"{verdict.alpha:g} per port).", f"  envelope: {path}"]
    lines += [f"  {'SHIFTED ' if t.shifted else ''}{t.describe()}" for t in verdict.tests]
    lines.append("Fix: the distribution of what training comes to has moved, beyond what the "
                 "spread of seeds explains: find the change. If it is deliberate, re-record "
                 "the envelope and the golden.")
    return "\n".join(lines)


def rerecord_note(port_id: str, profile: str, seeds: int) -> str:
    """What an envelope without per-seed outcomes says instead of a statistical verdict."""
    return (f"{port_id} ({profile}): its envelope stores no per-seed outcomes (recorded before "
            f"they were), so only its band is judged; re-record the envelope for the "
            f"statistical verdict: {record_envelope_command(port_id, profile, seeds)}")
