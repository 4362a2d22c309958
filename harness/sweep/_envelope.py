"""Seed envelopes as sweeps: train N seeds of each port (by its seed-batched twin where
the twin reproduces the port's first seed bit for bit in the same run, else as one sweep
on an executor) and write their envelope; check K seeds against their envelopes (the band
and the two-sample test of outcomes; the single-seed golden is shown, not gated). The
envelope files and both tests live in ``harness.golden``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from harness.check import load_envelope, recorded_seed, resolve, write_obtained_files
from harness.compare import (
    ALPHA,
    BAND_STDS,
    OUTCOMES,
    STAT_TEST,
    Comparison,
    EnvelopeVerdict,
    OutcomeVerdict,
    classify,
    compare_outcomes,
    outcomes_of,
)
from harness.errors import GoldenMissingError, HarnessError, SweepFailedError, UsageError
from harness.golden import Envelope, GoldenStore, build_envelope, write_envelope
from harness.interface import Trajectory, config_dict, config_hash
from harness.registry import Registry, default_registry
from harness.report import rerecord_note
from harness.runner import ProgressFn, parse_device, run_port
from harness.seeding import environment_info
from harness.sweep._executor import (
    Executor,
    Job,
    LocalExecutor,
    ResultFn,
    SweepResult,
    sweep_error,
)
from harness.sweep._twin import (
    SeedBatchedFn,
    TwinProof,
    find_seed_batched,
    twin_runs,
)


def envelope_seeds(first: int, n: int) -> list[int]:
    """The seeds of an N-seed envelope: ``first`` (the golden's seed) and the N - 1 after it."""
    if n < 2:
        raise UsageError("--seeds needs at least 2 seeds for an envelope.",
                         context={"argument": "--seeds", "value": n},
                         fix="pass --seeds N with N >= 2 (32 is a good default).")
    return [first + i for i in range(n)]


def _sweep(executor: Executor, jobs: Sequence[Job], registry: Registry,
           on_result: ResultFn | None) -> SweepResult:
    return executor.run(jobs, registry, on_result) if jobs else SweepResult(())


def _merged(sweeps: Sequence[SweepResult]) -> SweepResult:
    """One result of several sweeps (their jobs never overlap)."""
    return SweepResult(tuple(j for s in sweeps for j in s.jobs),
                       {k: v for s in sweeps for k, v in s.trajectories.items()},
                       {k: v for s in sweeps for k, v in s.failures.items()})


def _failed(sweep: SweepResult, jobs: Sequence[Job], consequence: str) -> None:
    """Raise one error naming every job of ``jobs`` that failed in ``sweep``."""
    failed = [sweep.failures[j] for j in jobs if j in sweep.failures]
    if failed:
        raise sweep_error(failed, len(jobs), consequence)


def record_envelopes(port_ids: Sequence[str], profile: str, store: GoldenStore, n_seeds: int,
                     *, device: str = "cpu", executor: Executor | None = None,
                     registry: Registry | None = None, batched: bool = True,
                     on_result: ResultFn | None = None
                     ) -> dict[str, Envelope | SweepFailedError]:
    """Train ``n_seeds`` seeds of each port and write its envelope. A port with a
    seed-batched twin trains its first seed on ``executor``, and the twin trains all of
    them in one computation here; where the twin's first seed is not the port's bit for
    bit, the port trains the rest on ``executor`` too. The other ports' ports x seeds jobs
    run as one sweep. A port with any failed seed gets no envelope."""
    registry = registry or default_registry()
    parse_device(device)
    twins = {p: find_seed_batched(registry, p) if batched else None for p in port_ids}
    seeds = {p: envelope_seeds(_first_seed(store, registry, p, profile), n_seeds)
             for p in port_ids}
    executor = executor or LocalExecutor()
    # every seed of a port without a twin; the first seed (the twin's proof) of the others
    jobs = {p: [Job(p, profile, s, device) for s in (seeds[p] if twins[p] is None
                                                     else seeds[p][:1])] for p in port_ids}
    sweeps = [_sweep(executor, [j for js in jobs.values() for j in js], registry, on_result)]
    twinned: dict[str, tuple[list[dict[str, np.ndarray]] | None, TwinProof]] = {}
    for port_id, twin in twins.items():
        first = sweeps[0].trajectories.get(jobs[port_id][0])
        if twin is not None and first is not None:
            twinned[port_id] = twin_runs(twin, _spec(registry, port_id).profile(profile),
                                         seeds[port_id], device, first,
                                         _spec(registry, port_id).metrics)
    rest = [Job(p, profile, s, device) for p, (runs, _) in twinned.items() if runs is None
            for s in seeds[p][1:]]
    sweeps.append(_sweep(executor, rest, registry, on_result))
    merged = _merged(sweeps)
    done: dict[str, Envelope | SweepFailedError] = {}
    for port_id in port_ids:
        try:
            done[port_id] = _write_envelope(port_id, profile, store, registry, seeds[port_id],
                                            device, twinned.get(port_id), merged,
                                            executor.name)
        except SweepFailedError as exc:
            done[port_id] = exc
    return done


def _write_envelope(port_id: str, profile: str, store: GoldenStore, registry: Registry,
                    seeds: list[int], device: str,
                    twinned: tuple[list[dict[str, np.ndarray]] | None, TwinProof] | None,
                    sweep: SweepResult, executor: str) -> Envelope:
    """One port's envelope from the twin's proven runs, else the port's own runs."""
    spec = _spec(registry, port_id)
    config = spec.profile(profile)
    runs, proof = twinned if twinned is not None else (None, None)
    if runs is None:
        jobs = [Job(port_id, profile, s, device) for s in seeds]
        # a twin's port whose first seed failed trained no other
        _failed(sweep, [j for j in jobs if j in sweep.jobs], "no envelope was written")
        runs = [sweep.trajectories[j].metrics for j in jobs]
    how = (proof.describe() if proof is not None and proof.proven else
           f"one run per seed ({executor} executor)" +
           ("" if proof is None else f"; {proof.describe()}"))
    meta = {"config": config_dict(config), "config_hash": config_hash(config),
            "device": device, "computation": how, "band_stds": BAND_STDS,
            "outcome_test": {"test": STAT_TEST, "alpha_per_port": ALPHA,
                             "outcomes": list(OUTCOMES)},
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **environment_info()}
    # the gated figures only: observables a run also records are not what the band judges
    gated = [{m: run[m] for m in spec.metrics} for run in runs]
    env = build_envelope(port_id, profile, seeds, gated, meta)
    write_envelope(store, env)
    return env


def _spec(registry: Registry, port_id: str) -> Any:
    return registry.spec(registry.get(port_id).tutorial)


def _first_seed(store: GoldenStore, registry: Registry, port_id: str, profile: str) -> int:
    """The golden's seed where a golden exists (the seed every check trains with), else
    the spec's."""
    seed = recorded_seed(resolve(port_id, profile, golden_dir=store.root, registry=registry))
    return int(_spec(registry, port_id).default_seed) if seed is None else seed


def record_envelope(port_id: str, profile: str, store: GoldenStore, n_seeds: int,
                    **options: Any) -> Envelope:
    """``record_envelopes`` for one port; a failed seed raises ``SweepFailedError``."""
    outcome = record_envelopes([port_id], profile, store, n_seeds, **options)[port_id]
    if isinstance(outcome, SweepFailedError):
        raise outcome
    return outcome


@dataclass(frozen=True)
class EnvelopeCheck:
    """Fresh runs against their envelope: the golden seed's run classified against the
    per-epoch band, and K seeds' outcomes tested against the envelope's N (None, with
    ``note`` saying why, where the envelope stores no per-seed outcomes). These two decide
    ``passed``; ``golden`` (the same run against its single-seed golden, if one exists) is
    shown beside them, not gated: off the recording machine rounding alone moves it, which
    is what an envelope is for. ``twin``: how a seed-batched twin was proven, or why not."""

    obtained: Trajectory
    envelope: Envelope
    verdict: EnvelopeVerdict
    golden: Comparison | None
    outcomes: OutcomeVerdict | None = None
    note: str | None = None
    twin: TwinProof | None = None

    @property
    def passed(self) -> bool:
        return self.verdict.inside and (self.outcomes is None or self.outcomes.same)


@dataclass(frozen=True)
class EnvelopeSkipped:
    """A port checked with ``--all`` that has no envelope at this profile: skipped, why."""

    port_id: str
    reason: GoldenMissingError


def check_seeds(env: Envelope, k: int | None) -> list[int]:
    """The seeds a check trains: the envelope's own first ``k`` (default all N). The same
    seeds, so an unchanged port on the recording machine reproduces every recorded outcome
    bit for bit (p = 1, never a false alarm there); elsewhere rounding noise makes the two
    samples independent draws of one distribution, which the rank test is built for."""
    n = len(env.seeds)
    if k is None:
        return list(env.seeds)
    if not 2 <= k <= n:
        raise UsageError(f"--seeds {k} is out of range for {env.port_id}'s {n}-seed envelope.",
                         context={"--seeds": k, "envelope seeds": n, "valid range": f"2..{n}"},
                         fix=f"pass --seeds between 2 and {n}, or leave it out to train all "
                         f"{n}.")
    return list(env.seeds[:k])


def check_envelope(port_id: str, profile: str, store: GoldenStore, *, device: str = "cpu",
                   registry: Registry | None = None, progress: ProgressFn | None = None,
                   run: Trajectory | None = None,
                   runs: Sequence[dict[str, np.ndarray]] | None = None,
                   seeds: int | None = None, twin: TwinProof | None = None) -> EnvelopeCheck:
    """Classify the envelope's first seed (the golden's) against the band, compare the
    same run with the single-seed golden where one exists (shown, not gated), and test
    the K seeds' outcomes (``runs``: their metrics, in seed order; default: the first
    seed alone is trained, and with ``seeds`` the rest one after another here, by the
    port). A run outside the band is saved as ``*.obtained.*``. ``run`` skips training
    the first seed (a run from an executor); ``twin`` says how ``runs`` were trained."""
    req = resolve(port_id, profile, device=device, golden_dir=store.root, registry=registry)
    env = load_envelope(req)
    chosen = check_seeds(env, seeds)
    if run is None:
        run = run_port(port_id, profile, seed=chosen[0], device=device,
                       registry=req.registry, progress=progress)
    verdict = classify(run, env, req.tolerances)
    golden = None
    if store.exists(port_id, profile):
        # the one check's verdict of this run (its profile's run only: the band and the
        # outcomes are what gates here; segments are the plain check's)
        from harness.check import check_request

        golden = check_request(req, obtained=run, segments=False,
                               write_obtained=False).comparison
    if not verdict.inside:
        write_obtained_files(req, run)
    if env.outcomes is None:
        return EnvelopeCheck(run, env, verdict, golden,
                             note=rerecord_note(port_id, profile, len(env.seeds)))
    if runs is None:
        runs = [run.metrics, *(run_port(port_id, profile, seed=s, device=device,
                                        registry=req.registry).metrics for s in chosen[1:])]
    outcomes = compare_outcomes(env, outcomes_of(runs, env.metrics))
    return EnvelopeCheck(run, env, verdict, golden, outcomes, twin=twin)


Checked = EnvelopeCheck | EnvelopeSkipped | HarnessError


@dataclass
class _Plan:
    """One port's part of ``check_envelopes``: the seeds it trains, its twin (if it has one
    and more than one seed is trained), and what the executor has trained for it."""

    seeds: list[int]
    twin: SeedBatchedFn | None
    jobs: list[Job]
    first: Trajectory | None = None
    runs: list[dict[str, np.ndarray]] | None = None
    proof: TwinProof | None = None


def check_envelopes(port_ids: Sequence[str], profile: str, store: GoldenStore, *,
                    device: str = "cpu", executor: Executor | None = None,
                    registry: Registry | None = None, on_result: ResultFn | None = None,
                    progress: Callable[[str], ProgressFn] | None = None,
                    seeds: int | None = None, batched: bool = True,
                    skip_missing: bool = False) -> dict[str, Checked]:
    """``check_envelope`` for each port: K seeds per port (the envelope's first ``seeds``,
    default all), as one sweep on ``executor`` (``None``: one after another in this
    process, ``progress(port_id)`` giving the first seed's per-epoch callback). A port
    with a seed-batched twin trains its first seed itself and the twin all K; the twin's
    runs count only if its first seed equals the port's bit for bit, else the port
    trains the other seeds too. A missing envelope fails before training, or with
    ``skip_missing`` skips the port."""
    registry = registry or default_registry()
    outcomes: dict[str, Checked] = {}
    plans: dict[str, _Plan] = {}
    for port_id in port_ids:
        try:
            plans[port_id] = _plan(port_id, profile, store, device, registry, seeds, batched)
        except GoldenMissingError as exc:
            outcomes[port_id] = EnvelopeSkipped(port_id, exc) if skip_missing else exc
        except HarnessError as exc:
            outcomes[port_id] = exc
    first = _run_jobs(executor, plans, registry, on_result)
    for port_id, plan in plans.items():
        if plan.twin is not None:
            try:
                _try_twin(port_id, profile, device, registry, plan, plan.twin, first, progress)
            except HarnessError as exc:
                outcomes[port_id] = exc
    rest = {p: plan for p, plan in plans.items() if p not in outcomes and plan.twin is not None
            and plan.runs is None}
    for port_id, plan in rest.items():  # the port trains the other seeds
        plan.jobs = [Job(port_id, profile, s, device) for s in plan.seeds[1:]]
    second = _run_jobs(executor, rest, registry, on_result)
    for port_id, plan in plans.items():
        if port_id in outcomes:
            continue
        try:
            outcomes[port_id] = _check_planned(port_id, profile, store, device, registry, plan,
                                               second if port_id in rest else first, progress)
        except HarnessError as exc:
            outcomes[port_id] = exc
    return {p: outcomes[p] for p in port_ids}


def _plan(port_id: str, profile: str, store: GoldenStore, device: str, registry: Registry,
          seeds: int | None, batched: bool) -> _Plan:
    """What to train for ``port_id``: every chosen seed on the executor, or, where a twin
    trains them, the first (the twin's proof)."""
    req = resolve(port_id, profile, device=device, golden_dir=store.root, registry=registry)
    env = load_envelope(req)
    chosen = check_seeds(env, seeds) if env.outcomes is not None else list(env.seeds[:1])
    twin = find_seed_batched(registry, port_id) if batched and len(chosen) > 1 else None
    return _Plan(chosen, twin, [Job(port_id, profile, s, device)
                                for s in (chosen if twin is None else chosen[:1])])


def _run_jobs(executor: Executor | None, plans: Mapping[str, _Plan], registry: Registry,
              on_result: ResultFn | None) -> SweepResult | None:
    """Every plan's jobs as one sweep on ``executor``; None without one."""
    jobs = [j for plan in plans.values() for j in plan.jobs]
    return _sweep(executor, jobs, registry, on_result) if executor is not None else None


def _try_twin(port_id: str, profile: str, device: str, registry: Registry, plan: _Plan,
              twin: SeedBatchedFn, sweep: SweepResult | None,
              progress: Callable[[str], ProgressFn] | None) -> None:
    """The port's first seed (from the sweep, else trained here) and the twin's proof on
    it: ``plan.runs`` are the twin's runs where proven, else None."""
    if sweep is not None:
        _failed(sweep, plan.jobs, "nothing was compared")
        plan.first = sweep.trajectories[plan.jobs[0]]
    else:
        plan.first = run_port(port_id, profile, seed=plan.seeds[0], device=device,
                              registry=registry,
                              progress=progress(port_id) if progress is not None else None)
    spec = _spec(registry, port_id)
    plan.runs, plan.proof = twin_runs(twin, spec.profile(profile), plan.seeds, device,
                                      plan.first, spec.metrics)


def _check_planned(port_id: str, profile: str, store: GoldenStore, device: str,
                   registry: Registry, plan: _Plan, sweep: SweepResult | None,
                   progress: Callable[[str], ProgressFn] | None) -> EnvelopeCheck:
    """One port's check from its plan: the first run and the other seeds' runs from the
    twin (proven), the sweep, or, without an executor, trained by ``check_envelope``."""
    run, runs = plan.first, plan.runs
    if runs is None and sweep is not None:
        _failed(sweep, plan.jobs, "nothing was compared")
        trained = [sweep.trajectories[j] for j in plan.jobs]
        if run is None:
            run, trained = trained[0], trained[1:]
        runs = [run.metrics, *(t.metrics for t in trained)]
    bar = progress(port_id) if progress is not None and run is None else None
    return check_envelope(port_id, profile, store, device=device, registry=registry, run=run,
                          runs=runs, progress=bar,
                          seeds=len(plan.seeds) if len(plan.seeds) > 1 else None,
                          twin=plan.proof)
