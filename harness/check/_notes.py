"""What a verdict says besides pass or fail: where it first diverged and in which
outputs, what was not gated, and what differs between the golden's run and this one (the
device, the machine, a cross-framework config)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.check._request import GateRequest
from harness.compare import Comparison, OutputComparison, format_pair
from harness.golden import record_command
from harness.interface import Trajectory
from harness.interface._observe import EPOCH_OBSERVABLES
from harness.runner import parse_device
from harness.seeding import environment_info


def divergence_notes(comp: Comparison) -> tuple[str, ...]:
    """The first epoch and quantity that left its tolerance (both values, and that epoch's
    other gated columns), then every output that differs, where it first does."""
    notes = []
    first = comp.first_divergence
    if first is not None:
        tol = first.tolerance
        others = "; ".join("{} {} vs {} ({})".format(name, *format_pair(a, b, 8),
                                                     "ok" if ok else "off")
                           for name, a, b, ok in first.others)
        got, want = format_pair(first.obtained, first.expected, 8)
        notes.append(f"first divergent: epoch {first.epoch}: {first.quantity} "
                     f"{got} vs golden {want} (rtol {tol.rtol:g}, atol {tol.atol:g})"
                     + (f"; {others}" if others else ""))
    notes += [_output_note(o) for o in comp.failed_outputs]
    return tuple(notes)


def _output_note(out: OutputComparison) -> str:
    where = out.name + "".join(f"[{key!r}]" for key in out.path)
    if out.char is not None:
        a, b = str(out.obtained), str(out.expected)
        got = repr(a[out.char]) if out.char < len(a) else "the end"
        want = repr(b[out.char]) if out.char < len(b) else "the end"
        return (f"output {where} differs at character {out.char}: {got} vs golden {want} "
                f"(exact); obtained {a!r}, golden {b!r}")
    if out.obtained is None or out.expected is None:
        side = "this run" if out.obtained is None else "the golden"
        return f"output {where} is missing from {side}"
    tol = out.tolerance
    return (f"output {where} differs: {out.obtained!r} vs golden {out.expected!r} (rtol "
            f"{tol.rtol:g}, atol {tol.atol:g})")


def ungated_notes(req: GateRequest, golden: Trajectory, obtained: Trajectory
                   ) -> tuple[str, ...]:
    """What this run recorded that its golden lacks, so the gate could not judge it."""
    if req.against is not None:
        return ()
    missing = [n for n in EPOCH_OBSERVABLES if n in obtained.metrics and n not in golden.metrics]
    if not missing:
        return ()
    return (f"the golden predates the training observables ({', '.join(missing)}): they are "
            f"not gated; `{record_command(req.golden_port, req.profile)}` re-records it with "
            "them (say why in the commit)",)


def device_change_notes(req: GateRequest, golden_meta: dict[str, Any]) -> tuple[str, ...]:
    """For a failed run (prefix or segments) on another kind of device than its golden's
    (``golden_meta``): the tolerances measured one device's noise, and a device change
    moves results further."""
    recorded = str(golden_meta.get("device", "cpu"))
    if parse_device(recorded)[0] == parse_device(req.device)[0]:
        return ()
    return (f"device change: the golden was recorded on {recorded}, this run is on "
            f"{req.device}. The tolerances are {recorded} noise; another device computes in "
            "another order (cuDNN, other kernels), and in chaotic stretches that alone can "
            "leave them (measured on an H200: docs/invariants.md, devices). To gate "
            f"{req.device} runs, record a {req.device_kind} golden beside the cpu one: "
            f"`rnn-harness record {req.port_id} --profile {req.profile} --device "
            f"{req.device}` (the check then picks it on this kind of device).",)


def machine_notes(req: GateRequest, golden_meta: Mapping[str, Any],
                  run_meta: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """For a failed run (prefix or segments): what decides the bits and differs between the
    golden's machine and this one (``harness.provenance``), with the command that names
    the factor behind the failure. ``run_meta``: this run's (default: this process's)."""
    from harness.provenance import provenance_note

    note = provenance_note(golden_meta, run_meta or environment_info(), req.golden_port)
    return () if note is None else (note,)


def cross_config_notes(req: GateRequest, golden: Trajectory, obtained: Trajectory
                       ) -> tuple[str, ...]:
    """Config fields the golden's run and this run differ in (the spec's cross_config)."""
    if req.against is None:
        return ()
    # through JSON, as the golden's config was stored (tuples read back as lists)
    ours = json.loads(json.dumps(obtained.meta.get("config") or {}, default=repr))
    theirs = golden.meta.get("config") or {}
    return tuple(f"config {k}: {req.golden_port}'s golden {theirs.get(k)!r}, this run "
                 f"{ours.get(k)!r} (the spec's cross_config; the comparison assumes it does "
                 f"not change {req.golden_port}'s model)"
                 for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k))
