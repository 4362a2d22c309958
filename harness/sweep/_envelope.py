"""Seed envelopes as sweeps: train N seeds of each port (seed-batched where a port offers
it, else as one sweep on an executor) and write their envelope; check runs against
their envelopes through the gate. The envelope files and the band test live in
``harness.golden``.
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
from harness.errors import HarnessError, SweepFailedError, UsageError
from harness.golden import (
    BAND_STDS,
    Envelope,
    EnvelopeVerdict,
    GoldenStore,
    build_envelope,
    classify,
    gate,
    load_envelope,
    recorded_seed,
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
    """A fresh run against its envelope, and against its single-seed golden if there is one."""

    obtained: Trajectory
    envelope: Envelope
    verdict: EnvelopeVerdict
    golden: Comparison | None


def check_envelope(port_id: str, profile: str, store: GoldenStore, *, device: str = "cpu",
                   registry: Registry | None = None, progress: ProgressFn | None = None,
                   run: Trajectory | None = None) -> EnvelopeCheck:
    """Train the envelope's first seed (the golden's) and classify it; the same run goes
    through the gate against the single-seed golden where one exists. A run outside the
    envelope is saved as ``*.obtained.*``. ``run`` skips training (a run from an executor)."""
    req = resolve(port_id, profile, device=device, golden_dir=store.root, registry=registry)
    env = load_envelope(req)
    if run is None:
        run = run_port(port_id, profile, seed=env.seeds[0], device=device,
                       registry=req.registry, progress=progress)
    verdict = classify(run, env, req.spec.tolerances)
    golden = None
    if store.exists(port_id, profile):
        golden = gate(req, obtained=run, write_obtained=False).comparison
    if not verdict.inside:
        write_obtained_files(req, run)
    return EnvelopeCheck(run, env, verdict, golden)


def check_envelopes(port_ids: Sequence[str], profile: str, store: GoldenStore, *,
                    device: str = "cpu", executor: Executor | None = None,
                    registry: Registry | None = None, on_result: ResultFn | None = None,
                    progress: Callable[[str], ProgressFn] | None = None
                    ) -> dict[str, EnvelopeCheck | HarnessError]:
    """``check_envelope`` for each port, the runs trained as one sweep on ``executor``
    (``None``: one after another in this process, ``progress(port_id)`` giving each run's
    per-epoch callback). Missing envelopes fail before training."""
    registry = registry or default_registry()
    outcomes: dict[str, EnvelopeCheck | HarnessError] = {}
    jobs = {}
    for port_id in port_ids:
        try:
            req = resolve(port_id, profile, device=device, golden_dir=store.root,
                          registry=registry)
            env = load_envelope(req)
        except HarnessError as exc:
            outcomes[port_id] = exc
            continue
        jobs[port_id] = Job(port_id, profile, env.seeds[0], device)
    sweep = executor.run(list(jobs.values()), registry, on_result) if executor else None
    for port_id, job in jobs.items():
        try:
            if sweep is not None and job in sweep.failures:
                raise sweep_error([sweep.failures[job]], 1, "nothing was compared")
            run = sweep.trajectories[job] if sweep is not None else None
            bar = progress(port_id) if progress is not None and run is None else None
            outcomes[port_id] = check_envelope(port_id, profile, store, device=device,
                                               registry=registry, run=run, progress=bar)
        except HarnessError as exc:
            outcomes[port_id] = exc
    return {p: outcomes[p] for p in port_ids}
