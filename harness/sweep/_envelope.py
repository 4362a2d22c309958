"""Seed envelopes as sweeps: train N seeds of each port (seed-batched where a port offers
it, else as one sweep on an executor) and write their envelope; check K seeds against
their envelopes (the band, the gate, the two-sample test of outcomes). The envelope files
and both tests live in ``harness.golden``.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from harness.compare import Comparison
from harness.errors import GoldenMissingError, HarnessError, SweepFailedError, UsageError
from harness.golden import (
    ALPHA,
    BAND_STDS,
    OUTCOMES,
    STAT_TEST,
    Envelope,
    EnvelopeVerdict,
    GoldenStore,
    OutcomeVerdict,
    build_envelope,
    classify,
    compare_outcomes,
    gate,
    load_envelope,
    outcomes_of,
    recorded_seed,
    rerecord_note,
    resolve,
    write_envelope,
    write_obtained_files,
)
from harness.interface import Trajectory, config_dict, config_hash
from harness.registry import Registry, default_registry
from harness.runner import ProgressFn, parse_device, run_port
from harness.seeding import environment_info, prepare_determinism
from harness.sweep._executor import (
    Executor,
    Job,
    LocalExecutor,
    ResultFn,
    SweepResult,
    sweep_error,
)

#: (config, seeds, device) -> per seed, {metric: one float per epoch}.
SeedBatchedFn = Callable[[Any, Sequence[int], str], list[dict[str, np.ndarray]]]


def find_seed_batched(registry: Registry, port_id: str) -> SeedBatchedFn | None:
    """A seed-batched trainer for ``port_id``, if its package has one: the module
    ``<package>.<framework>_batched_port`` beside the port, with ``SEED_BATCHED[port_id]``."""
    entry = registry.get(port_id)
    package = entry.target.partition(":")[0].rpartition(".")[0]
    name = f"{package}.{entry.framework}_batched_port"
    try:
        if not package or importlib.util.find_spec(name) is None:
            return None
    except ModuleNotFoundError:
        return None
    table = getattr(importlib.import_module(name), "SEED_BATCHED", {})
    fn: SeedBatchedFn | None = table.get(port_id)
    return fn


def envelope_seeds(first: int, n: int) -> list[int]:
    """The seeds of an N-seed envelope: ``first`` (the golden's seed) and the N - 1 after it."""
    if n < 2:
        raise UsageError("--seeds needs at least 2 seeds for an envelope.",
                         context={"argument": "--seeds", "value": n},
                         fix="pass --seeds N with N >= 2 (32 is a good default).")
    return [first + i for i in range(n)]


def record_envelopes(port_ids: Sequence[str], profile: str, store: GoldenStore, n_seeds: int,
                     *, device: str = "cpu", executor: Executor | None = None,
                     registry: Registry | None = None, batched: bool = True,
                     on_result: ResultFn | None = None
                     ) -> dict[str, Envelope | SweepFailedError]:
    """Train ``n_seeds`` seeds of each port and write its envelope. A port with a
    seed-batched trainer runs in one computation here; the others' ports x seeds jobs
    run as one sweep on ``executor``. A port with any failed seed gets no envelope."""
    registry = registry or default_registry()
    parse_device(device)
    trainers = {p: find_seed_batched(registry, p) if batched else None for p in port_ids}
    seeds = {p: envelope_seeds(_first_seed(store, registry, p, profile), n_seeds)
             for p in port_ids}
    executor = executor or LocalExecutor()
    jobs = [Job(p, profile, s, device) for p in port_ids if trainers[p] is None for s in seeds[p]]
    sweep = executor.run(jobs, registry, on_result) if jobs else SweepResult(())
    done: dict[str, Envelope | SweepFailedError] = {}
    for port_id in port_ids:
        spec = _spec(registry, port_id)
        config = spec.profile(profile)
        trainer = trainers[port_id]
        if trainer is not None:
            prepare_determinism()
            runs = trainer(config, seeds[port_id], device)
            how = f"seed-batched ({trainer.__module__})"
        else:
            mine = [j for j in jobs if j.port_id == port_id]
            failed = [sweep.failures[j] for j in mine if j in sweep.failures]
            if failed:
                done[port_id] = sweep_error(failed, len(mine), "no envelope was written")
                continue
            runs = [sweep.trajectories[j].metrics for j in mine]
            how = f"one run per seed ({executor.name} executor)"
        meta = {"config": config_dict(config), "config_hash": config_hash(config),
                "device": device, "computation": how, "band_stds": BAND_STDS,
                "outcome_test": {"test": STAT_TEST, "alpha_per_port": ALPHA,
                                 "outcomes": list(OUTCOMES)},
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                **environment_info()}
        # the gated figures only: observables a run also records are not what the band judges
        gated = [{m: run[m] for m in spec.metrics} for run in runs]
        env = build_envelope(port_id, profile, seeds[port_id], gated, meta)
        write_envelope(store, env)
        done[port_id] = env
    return done


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
    per-epoch band (and gated against its single-seed golden if there is one), and K
    seeds' outcomes tested against the envelope's N (None, with ``note`` saying why,
    where the envelope stores no per-seed outcomes)."""

    obtained: Trajectory
    envelope: Envelope
    verdict: EnvelopeVerdict
    golden: Comparison | None
    outcomes: OutcomeVerdict | None = None
    note: str | None = None

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
                   seeds: int | None = None) -> EnvelopeCheck:
    """Classify the envelope's first seed (the golden's) against the band, gate the same
    run against the single-seed golden where one exists, and test the K seeds' outcomes
    (``runs``: their metrics, in seed order; default: the first seed alone is trained,
    and with ``seeds`` the rest one after another here). A run outside the band is saved
    as ``*.obtained.*``. ``run`` skips training the first seed (a run from an executor)."""
    req = resolve(port_id, profile, device=device, golden_dir=store.root, registry=registry)
    env = load_envelope(req)
    chosen = check_seeds(env, seeds)
    if run is None:
        run = run_port(port_id, profile, seed=chosen[0], device=device,
                       registry=req.registry, progress=progress)
    verdict = classify(run, env, req.tolerances)
    golden = None
    if store.exists(port_id, profile):
        golden = gate(req, obtained=run, write_obtained=False).comparison
    if not verdict.inside:
        write_obtained_files(req, run)
    if env.outcomes is None:
        return EnvelopeCheck(run, env, verdict, golden,
                             note=rerecord_note(port_id, profile, len(env.seeds)))
    if runs is None:
        runs = [run.metrics, *(run_port(port_id, profile, seed=s, device=device,
                                        registry=req.registry).metrics for s in chosen[1:])]
    outcomes = compare_outcomes(env, outcomes_of(runs, env.metrics))
    return EnvelopeCheck(run, env, verdict, golden, outcomes)


Checked = EnvelopeCheck | EnvelopeSkipped | HarnessError


def check_envelopes(port_ids: Sequence[str], profile: str, store: GoldenStore, *,
                    device: str = "cpu", executor: Executor | None = None,
                    registry: Registry | None = None, on_result: ResultFn | None = None,
                    progress: Callable[[str], ProgressFn] | None = None,
                    seeds: int | None = None, batched: bool = True,
                    skip_missing: bool = False) -> dict[str, Checked]:
    """``check_envelope`` for each port: K seeds per port (the envelope's first ``seeds``,
    default all), seed-batched where the port offers it (as ``record --seeds`` does), the
    other runs as one sweep on ``executor`` (``None``: one after another in this process,
    ``progress(port_id)`` giving the first seed's per-epoch callback). A missing envelope
    fails before training, or with ``skip_missing`` skips the port."""
    registry = registry or default_registry()
    outcomes: dict[str, Checked] = {}
    plans: dict[str, tuple[list[int], SeedBatchedFn | None]] = {}
    for port_id in port_ids:
        try:
            req = resolve(port_id, profile, device=device, golden_dir=store.root,
                          registry=registry)
            env = load_envelope(req)
            chosen = check_seeds(env, seeds) if env.outcomes is not None else env.seeds[:1]
        except GoldenMissingError as exc:
            outcomes[port_id] = EnvelopeSkipped(port_id, exc) if skip_missing else exc
            continue
        except HarnessError as exc:
            outcomes[port_id] = exc
            continue
        plans[port_id] = (list(chosen), find_seed_batched(registry, port_id) if batched
                          else None)
    jobs = {p: [Job(p, profile, s, device) for s in (chosen if trainer is None else chosen[:1])]
            for p, (chosen, trainer) in plans.items()}
    every = [j for js in jobs.values() for j in js]
    sweep = executor.run(every, registry, on_result) if executor and every else None
    for port_id, (chosen, trainer) in plans.items():
        try:
            outcomes[port_id] = _check_planned(port_id, profile, store, device, registry,
                                               chosen, trainer, jobs[port_id], sweep, progress)
        except HarnessError as exc:
            outcomes[port_id] = exc
    return {p: outcomes[p] for p in port_ids}


def _check_planned(port_id: str, profile: str, store: GoldenStore, device: str,
                   registry: Registry, chosen: list[int], trainer: SeedBatchedFn | None,
                   jobs: list[Job], sweep: SweepResult | None,
                   progress: Callable[[str], ProgressFn] | None) -> EnvelopeCheck:
    """One port's check from its planned seeds: the sweep's runs where there was one, the
    seed-batched trainer's for every seed where the port has one."""
    runs: list[dict[str, np.ndarray]] | None = None
    run = None
    if sweep is not None:
        failed = [sweep.failures[j] for j in jobs if j in sweep.failures]
        if failed:
            raise sweep_error(failed, len(jobs), "nothing was compared")
        run = sweep.trajectories[jobs[0]]
        runs = [sweep.trajectories[j].metrics for j in jobs]
    if trainer is not None and len(chosen) > 1:
        prepare_determinism()
        runs = trainer(_spec(registry, port_id).profile(profile), chosen, device)
    bar = progress(port_id) if progress is not None and run is None else None
    return check_envelope(port_id, profile, store, device=device, registry=registry, run=run,
                          runs=runs if runs is None or len(runs) == len(chosen) else None,
                          progress=bar, seeds=len(chosen) if len(chosen) > 1 else None)
