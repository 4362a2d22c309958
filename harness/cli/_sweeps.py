"""``record --seeds N`` and ``check --envelope``: seed envelopes, trained as sweeps."""

from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING

from rich.table import Table

from harness.backends import install_hint
from harness.cli._console import err, out, sweep_progress
from harness.cli._gating import error_detail, error_row
from harness.errors import EXIT_REGRESSION, EXIT_USAGE, HarnessError, UsageError
from harness.golden import GoldenStore
from harness.registry import Registry, Selection

if TYPE_CHECKING:
    from harness.sweep import EnvelopeCheck, Executor


def executor(args: argparse.Namespace) -> Executor:
    """The executor ``--executor``/``--scheduler``/``--workers`` name: the local process
    pool by default (``--workers`` sizes it; 0 trains in this process)."""
    from harness.sweep import make_executor

    return make_executor(args.executor or "local", scheduler=args.scheduler,
                         workers=args.workers, threads=args.threads,
                         timeout=args.timeout)


def record_envelopes(args: argparse.Namespace, registry: Registry, store: GoldenStore,
                     ports: list[str]) -> int:
    from harness.sweep import record_envelopes

    if args.seed is not None:
        raise UsageError("--seed and --seeds exclude each other.",
                         context={"--seed": args.seed, "--seeds": args.seeds},
                         fix="an envelope's seeds are the golden's seed and the N-1 after it: "
                         "drop --seed.")
    with contextlib.ExitStack() as locks, \
            sweep_progress(f"record {args.seeds}-seed envelopes ({args.profile})") as bar:
        for port_id in ports:  # held from before training until each envelope is written
            locks.enter_context(store.locked(port_id, args.profile))
        done = record_envelopes(ports, args.profile, store, args.seeds, device=args.device,
                                executor=executor(args), registry=registry,
                                batched=not args.no_batch, on_result=bar)
    worst = 0
    for port_id, env in done.items():
        if isinstance(env, HarnessError):
            err.print(str(env), markup=False)
            worst = max(worst, env.exit_code)
            continue
        out.print(f"recorded {len(env.seeds)}-seed envelope of {port_id} ({args.profile}), "
                  f"{env.meta['computation']} -> {store.path(port_id, args.profile)}")
    return worst


def check_envelopes(args: argparse.Namespace, registry: Registry, store: GoldenStore,
                    selection: Selection) -> int:
    """Each port's K seeds against its envelope; with --all, a port without an envelope at
    this profile is skipped with the command that records one. Returns the worst exit
    code and the number of ports checked (a check of none exits 2: ``_nothing_checked``)."""
    from harness.compare import ALPHA, STAT_TEST
    from harness.golden import record_envelope_command
    from harness.sweep import EnvelopeCheck, EnvelopeSkipped, check_envelopes

    table = Table("port", "profile", "band", "outside at epochs", "seeds", "outcomes",
                  "single-seed golden (not gated)", "final", title=f"rnn-harness check "
                  f"--envelope ({args.profile}): per-epoch band, and {STAT_TEST} of each "
                  f"metric's final figure and area, alpha {ALPHA:g} per port",
                  caption="exit 1 where the band says REGRESSION or the outcomes SHIFTED; "
                  "the single-seed golden is shown, not gated (rounding alone moves it off "
                  "the recording machine): `rnn-harness check PORT` gates it")
    with sweep_progress(f"check --envelope ({args.profile})") as bar:
        done = check_envelopes(selection.ports, args.profile, store, device=args.device,
                               executor=executor(args), registry=registry, on_result=bar,
                               seeds=args.seeds, batched=not args.no_batch,
                               skip_missing=args.all)
    worst = 0
    errors: dict[str, list[str]] = {}
    for port_id, res in done.items():
        if isinstance(res, EnvelopeSkipped):
            table.add_row(port_id, args.profile, "skipped\nno envelope", "", "",
                          f"record one: {record_envelope_command(port_id, args.profile, 16)}",
                          "", "")
        elif isinstance(res, EnvelopeCheck):
            worst = max(worst, _envelope_row(port_id, args.profile, res, store, table))
        else:
            table.add_row(*error_row(port_id, args.profile, "ERROR", res.summary))
            errors.setdefault(error_detail(res), []).append(port_id)
            worst = max(worst, res.exit_code)
    for port_id in selection.skipped:
        fw = registry.get(port_id).framework
        table.add_row(port_id, args.profile, f"skipped ({install_hint(fw)})",
                      *[""] * 5)
    out.print(table)
    for detail, ids in errors.items():
        err.print(f"ERROR in {', '.join(ids)}:\n{detail}")
    checked = [p for p, r in done.items() if not isinstance(r, EnvelopeSkipped)]
    return worst if checked else max(worst, _nothing_enveloped(args, list(done)))


def _nothing_enveloped(args: argparse.Namespace, done: list[str]) -> int:
    """Every selected port lacked an envelope: 2 (the check proved nothing), or 0 with
    --allow-empty."""
    if args.allow_empty or not done:
        return 0
    err.print(str(UsageError(
        f"Nothing was checked: no selected port has a seed envelope at profile "
        f"{args.profile!r}.", context={"skipped": ", ".join(done)},
        fix=f"record envelopes (`rnn-harness record --all --profile {args.profile} "
        "--seeds 16`), or pass --allow-empty where an empty check is expected.")),
        markup=False)
    return EXIT_USAGE


def _envelope_row(port_id: str, profile: str, res: EnvelopeCheck, store: GoldenStore,
                  table: Table) -> int:
    from harness.report import epoch_ranges, outcome_message, verdict_message

    verdict, golden, stats = res.verdict, res.golden, res.outcomes
    path = store.path(port_id, profile)
    if not verdict.inside:
        err.print(verdict_message(verdict, path), markup=False)
    if stats is not None and not stats.same:
        err.print(outcome_message(stats, path), markup=False)
    if res.note is not None:
        err.print(f"note: {res.note}", markup=False)
    if res.twin is not None and not res.twin.proven:
        err.print(f"note: {port_id} ({profile}): {res.twin.describe()}", markup=False)
    # not a verdict: the exit code follows the band and the outcomes only
    single = ("none recorded" if golden is None else "matches" if golden.passed else
              f"differs from epoch {golden.first_divergent_epoch} "
              f"(max rel err {golden.max_rel_error:.2g})")
    final = ", ".join(f"{k} {v[-1]:.5g}" for k, v in res.obtained.metrics.items()
                      if k in res.envelope.metrics)
    if stats is None:
        cell, k = "not tested (re-record the envelope)", 1
    else:
        k = stats.tests[0].new.size
        cell = (("" if stats.same else "SHIFTED: ") + stats.summary() + "\ndetects " +
                ", ".join(f"{t.metric} {t.outcome} {t.detectable:.2g}" for t in stats.tests))
    trained_by = ("" if res.twin is None else "\nby its twin" if res.twin.proven else
                  "\nby the port (twin differs)")
    table.add_row(port_id, profile, "inside" if verdict.inside else "REGRESSION",
                  epoch_ranges(verdict.outside_epochs), f"{k} of {verdict.seeds}{trained_by}",
                  cell, single, final)
    return 0 if res.passed else EXIT_REGRESSION
