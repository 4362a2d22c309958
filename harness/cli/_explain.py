"""``rnn-harness explain PORT``: print which recorded factor alone explains a failing check
(``harness.explain`` computes it; this module only words it, in one screen)."""

from __future__ import annotations

import argparse

from harness.cli._console import out
from harness.errors import EXIT_REGRESSION
from harness.explain import Explanation, Factor, Replay, explain
from harness.registry import Registry

#: At most this many provenance lines are shown (the meta holds them all).
SHOWN_DIFFERENCES = 8


def cmd_explain(args: argparse.Namespace, registry: Registry) -> int:
    """Exit 0 when the run passes here or one factor explains it, 1 when the code changed."""
    registry.get(args.port)  # an unknown port is refused before anything runs
    exp = explain(args.port, args.profile, args.golden_dir)
    out.print(explanation_text(exp))
    return EXIT_REGRESSION if not exp.baseline.passed and not exp.causes else 0


def _replay_cell(replay: Replay) -> str:
    return f"{'pass' if replay.passed else 'FAIL'}  max rel err {replay.max_rel_error:.2g}"


def _cause(exp: Explanation) -> str:
    causes = exp.causes
    if not causes:
        return ("cause: none of the environment factors: the code changed (the run fails with "
                "each recorded factor switched to the golden's). `rnn-harness check "
                f"{exp.port_id} --profile {exp.profile}` names the first divergent epoch.")
    names = " or ".join(f.name for f in causes)
    fix = "; ".join(_how(f) for f in causes)
    return (f"cause: {names} alone brings the run back inside its tolerance: this machine's "
            f"numerics, not the code. To reproduce the golden here: {fix}. To gate this kind of "
            "machine, record its own golden (--golden-dir) rather than widen the tolerance.")


def _how(factor: Factor) -> str:
    if factor.initial:
        return ("the seeded initial weights differ from the stored ones (an RNG or "
                "initialisation change): check the seeding code")
    return " ".join(f"{k}={v}" if v is not None else f"unset {k}" for k, v in factor.env.items())


def explanation_text(exp: Explanation) -> str:
    """The explanation as at most about 25 lines."""
    head = f"explain {exp.port_id} ({exp.profile}, the prefix run)"
    base = exp.baseline
    if base.passed:
        return (f"{head}: passes on this machine ({_replay_cell(base)}); nothing to explain. "
                "A failing check here fails in its checkpoint segments: run `rnn-harness check "
                f"{exp.port_id}` for the segment that diverges.")
    lines = [f"{head}: fails here, max rel err {base.max_rel_error:.2g}",
             *([f"  {base.first.split('; ')[0]}"] if base.first else [])]
    lines.append("provenance, golden vs this run:")
    shown = exp.differences[:SHOWN_DIFFERENCES]
    lines += [f"  {d}" for d in shown] or ["  no recorded difference"]
    if len(exp.differences) > len(shown):
        lines.append(f"  ... and {len(exp.differences) - len(shown)} more")
    lines.append("replayed with one factor switched to the golden's:")
    width = max((len(f.name) for f, _ in exp.trials), default=0)
    lines += [f"  {f.name:<{width}}  {f.here} -> {f.golden}:  {_replay_cell(r)}"
              for f, r in exp.trials]
    lines += [f"  not tried: {why}" for why in exp.untried]
    lines.append(_cause(exp))
    return "\n".join(lines)
