"""Seed envelopes: per-epoch mean, std, min and max of a metric over N seeds, stored as
``envelope.csv`` + ``envelope.json`` beside the single-seed golden, and the check that
classifies a run as inside the envelope (noise) or outside it (regression).
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import importlib.util
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from harness.compare import Comparison, compare_trajectories
from harness.errors import (
    ConfigMismatchError,
    GoldenCorruptError,
    GoldenError,
    GoldenMissingError,
    HarnessError,
    SchemaVersionError,
    UsageError,
)
from harness.executor import (
    Executor,
    Job,
    LocalExecutor,
    ResultFn,
    SweepFailedError,
    SweepResult,
    sweep_error,
)
from harness.golden import (
    ENVELOPE_FILE,
    ENVELOPE_META_FILE,
    GoldenStore,
    atomic_write,
    record_envelope_command,
)
from harness.interface import Tolerance, Trajectory, config_dict, config_hash
from harness.registry import Registry, default_registry
from harness.runner import ProgressFn, parse_device, run_port
from harness.seeding import environment_info, prepare_determinism

ENVELOPE_SCHEMA_VERSION = 1
STATS = ("mean", "std", "min", "max")
#: The band is the wider of [min, max] and mean +- BAND_STDS * std at each epoch: with a
#: few seeds the sample range underestimates the spread, with many the range is wider.
BAND_STDS = 3.0

#: (config, seeds, device) -> per seed, {metric: one float per epoch}.
SeedBatchedFn = Callable[[Any, Sequence[int], str], list[dict[str, np.ndarray]]]


@dataclass(frozen=True)
class Envelope:
    """Per-epoch statistics over seeds: ``stats[metric][stat]`` is one float per epoch."""

    port_id: str
    profile: str
    seeds: tuple[int, ...]
    stats: dict[str, dict[str, np.ndarray]]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.stats)

    @property
    def num_epochs(self) -> int:
        return len(next(iter(next(iter(self.stats.values())).values())))


def build_envelope(port_id: str, profile: str, seeds: Sequence[int],
                   runs: Sequence[Mapping[str, np.ndarray]], meta: Mapping[str, Any] | None = None
                   ) -> Envelope:
    """Statistics of ``runs`` (one ``{metric: per-epoch array}`` per seed); std has ddof=1."""
    if len(runs) < 2 or len(runs) != len(seeds):
        raise UsageError("An envelope needs at least two seeds, one run per seed.",
                         context={"seeds": len(seeds), "runs": len(runs)},
                         fix="pass --seeds N with N >= 2.")
    stats = {}
    for metric in runs[0]:
        table = np.stack([np.asarray(r[metric], dtype=np.float64) for r in runs])  # (S, E)
        stats[metric] = {"mean": table.mean(0), "std": table.std(0, ddof=1),
                         "min": table.min(0), "max": table.max(0)}
    return Envelope(port_id, profile, tuple(seeds), stats, dict(meta or {}))


def envelope_to_csv(env: Envelope) -> str:
    """``epoch`` then ``<metric>_<stat>`` columns, floats in round-trip repr."""
    columns = [(m, s) for m in env.metrics for s in STATS]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *(f"{m}_{s}" for m, s in columns)])
    for i in range(env.num_epochs):
        writer.writerow([i, *(repr(float(env.stats[m][s][i])) for m, s in columns)])
    return out.getvalue()


def write_envelope(store: GoldenStore, env: Envelope) -> Path:
    """Write ``envelope.csv`` then ``envelope.json`` (holding the CSV's SHA-256)."""
    folder = store.path(env.port_id, env.profile)
    folder.mkdir(parents=True, exist_ok=True)
    text = envelope_to_csv(env)
    meta = {**env.meta, "schema_version": ENVELOPE_SCHEMA_VERSION, "port": env.port_id,
            "profile": env.profile, "seeds": list(env.seeds), "metrics": list(env.metrics),
            "stats": list(STATS), "std_ddof": 1, "num_epochs": env.num_epochs,
            "envelope_sha256": hashlib.sha256(text.encode()).hexdigest()}
    atomic_write(folder / ENVELOPE_FILE, text)
    atomic_write(folder / ENVELOPE_META_FILE, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return folder


def read_envelope(store: GoldenStore, port_id: str, profile: str) -> Envelope:
    """Read and validate an envelope; a missing or broken one raises a ``GoldenError``."""
    folder = store.path(port_id, profile)
    csv_path, meta_path = folder / ENVELOPE_FILE, folder / ENVELOPE_META_FILE
    where = {"tutorial": port_id.split("/")[0], "port": port_id, "profile": profile}
    if not csv_path.exists() or not meta_path.exists():
        raise GoldenMissingError(
            f"No seed envelope is recorded for {port_id} with profile {profile!r}.",
            context={"looked in": folder},
            fix=f"record one on purpose: `{record_envelope_command(port_id, profile)}`, "
            "review it and commit it with a message saying why.", **where)

    def corrupt(what: str) -> GoldenCorruptError:
        return GoldenCorruptError(
            f"The envelope for {port_id} ({profile}) is unreadable: {what}.",
            context={"file": csv_path},
            fix=f"restore it from git or re-record it: "
            f"`{record_envelope_command(port_id, profile)}`.", **where)

    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise corrupt(f"{ENVELOPE_META_FILE} is not valid JSON ({exc.msg})") from None
    if not isinstance(meta, dict) or meta.get("schema_version") != ENVELOPE_SCHEMA_VERSION:
        version = meta.get("schema_version") if isinstance(meta, dict) else None
        raise SchemaVersionError(
            f"The envelope for {port_id} has schema version {version!r}; this harness reads "
            f"version {ENVELOPE_SCHEMA_VERSION}.", context={"file": meta_path},
            fix=f"re-record it: `{record_envelope_command(port_id, profile)}`.", **where)
    text = csv_path.read_text(encoding="utf-8")
    if hashlib.sha256(text.encode()).hexdigest() != meta.get("envelope_sha256"):
        raise corrupt("its SHA-256 differs from the one envelope.json recorded")
    return Envelope(port_id, profile, tuple(meta["seeds"]), _parse(text, meta, corrupt), meta)


def _parse(text: str, meta: dict[str, Any], corrupt: Callable[[str], GoldenError]
           ) -> dict[str, dict[str, np.ndarray]]:
    rows = list(csv.reader(io.StringIO(text)))
    header = ["epoch", *(f"{m}_{s}" for m in meta["metrics"] for s in STATS)]
    if not rows or rows[0] != header or len(rows) - 1 != meta["num_epochs"]:
        raise corrupt(f"expected header {header} and {meta['num_epochs']} rows")
    try:
        table = np.array(rows[1:], dtype=np.float64).reshape(len(rows) - 1, len(header))
    except ValueError:
        raise corrupt("a row is short or holds a value that is not a number") from None
    col = {name: table[:, i] for i, name in enumerate(header)}
    return {m: {s: col[f"{m}_{s}"] for s in STATS} for m in meta["metrics"]}


def load_envelope(store: GoldenStore, port_id: str, profile: str,
                  registry: Registry | None = None) -> Envelope:
    """Read an envelope and refuse it if it was recorded for a different configuration."""
    registry = registry or default_registry()
    spec = registry.spec(registry.get(port_id).tutorial)
    env = read_envelope(store, port_id, profile)
    current = config_hash(spec.profile(profile))
    if env.meta.get("config_hash") != current:
        raise ConfigMismatchError(
            f"The envelope for {port_id} ({profile}) was recorded with a different config.",
            context={"envelope config_hash": env.meta.get("config_hash"),
                     "current config_hash": current},
            fix="re-record it on purpose: "
            f"`{record_envelope_command(port_id, profile, len(env.seeds))}`.",
            tutorial=spec.name, port=port_id, profile=profile)
    return env


# --- classification -------------------------------------------------------------------


@dataclass(frozen=True)
class MetricVerdict:
    """One metric of a run against the envelope's band."""

    metric: str
    obtained: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    outside: tuple[int, ...]

    @property
    def inside(self) -> bool:
        return not self.outside


@dataclass(frozen=True)
class EnvelopeVerdict:
    """A run classified against a seed envelope."""

    port_id: str
    profile: str
    seeds: int
    metrics: tuple[MetricVerdict, ...]
    obtained_epochs: int
    expected_epochs: int

    @property
    def inside(self) -> bool:
        return self.obtained_epochs == self.expected_epochs and all(m.inside for m in self.metrics)

    @property
    def outside_epochs(self) -> tuple[int, ...]:
        """Every epoch where some metric leaves the band (sorted)."""
        return tuple(sorted({e for m in self.metrics for e in m.outside}))


def band(stats: Mapping[str, np.ndarray], tol: Tolerance, k: float = BAND_STDS
         ) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) per epoch: the wider of [min, max] and mean +- k std, widened by the
    spec's single-seed tolerance so a rerun of a recorded seed is always inside."""
    lower = np.minimum(stats["min"], stats["mean"] - k * stats["std"])
    upper = np.maximum(stats["max"], stats["mean"] + k * stats["std"])
    return (lower - (tol.atol + tol.rtol * np.abs(lower)),
            upper + (tol.atol + tol.rtol * np.abs(upper)))


def classify(run: Trajectory, env: Envelope, tolerances: Mapping[str, Tolerance],
             k: float = BAND_STDS) -> EnvelopeVerdict:
    """Inside the envelope at every epoch, or not (and where). Every epoch is gated: the
    envelope measures the late-training spread a single-seed ``horizon`` gives up on."""
    verdicts = []
    n = min(run.num_epochs, env.num_epochs)
    for metric in env.metrics:
        tol = tolerances.get(metric) or tolerances["default"]
        stats = {s: v[:n] for s, v in env.stats[metric].items()}
        lower, upper = band(stats, tol, k)
        values = np.asarray(run.metrics[metric][:n], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero(~((values >= lower) & (values <= upper)))  # NaN is outside
        verdicts.append(MetricVerdict(metric, values, lower, upper, tuple(int(e) for e in bad)))
    return EnvelopeVerdict(run.port_id, run.profile, len(env.seeds), tuple(verdicts),
                           run.num_epochs, env.num_epochs)


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
        lines += [f"  {m.metric}: epoch {e}: obtained {m.obtained[e]!r}, band "
                  f"[{m.lower[e]:.6g}, {m.upper[e]:.6g}]" for e in m.outside[:rows]]
    lines.append("Fix: a run outside the spread of seeds is more than rounding noise: find "
                 "the change. If it is deliberate, re-record the envelope and the golden.")
    return "\n".join(lines)


# --- recording and checking -----------------------------------------------------------


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


def envelope_seeds(default_seed: int, n: int) -> list[int]:
    """The seeds of an N-seed envelope: the golden's seed and the N - 1 after it."""
    if n < 2:
        raise UsageError("--seeds needs at least 2 seeds for an envelope.",
                         context={"argument": "--seeds", "value": n},
                         fix="pass --seeds N with N >= 2 (32 is a good default).")
    return [default_seed + i for i in range(n)]


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
    seeds = {p: envelope_seeds(_spec(registry, p).default_seed, n_seeds) for p in port_ids}
    executor = executor or LocalExecutor()
    jobs = [Job(p, profile, s, device) for p in port_ids if trainers[p] is None for s in seeds[p]]
    sweep = executor.run(jobs, registry, on_result) if jobs else SweepResult(())
    done: dict[str, Envelope | SweepFailedError] = {}
    for port_id in port_ids:
        config = _spec(registry, port_id).profile(profile)
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
        env = build_envelope(port_id, profile, seeds[port_id], runs, meta)
        write_envelope(store, env)
        done[port_id] = env
    return done


def _spec(registry: Registry, port_id: str) -> Any:
    return registry.spec(registry.get(port_id).tutorial)


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
    """Train the envelope's first seed (the golden's) and classify it; a run outside the
    envelope is saved as ``*.obtained.*``. ``run`` skips training (a run from an executor)."""
    from harness.checking import load_golden

    registry = registry or default_registry()
    spec = registry.spec(registry.get(port_id).tutorial)
    env = load_envelope(store, port_id, profile, registry)
    try:
        golden: Trajectory | None = load_golden(store, port_id, profile, registry)
    except GoldenMissingError:
        golden = None
    if run is None:
        run = run_port(port_id, profile, seed=env.seeds[0], device=device, registry=registry,
                       progress=progress)
    verdict = classify(run, env, spec.tolerances)
    comparison = None if golden is None else compare_trajectories(
        run, golden, spec.metrics, spec.tolerances)
    if not verdict.inside:
        store.write(run, obtained=True)
    return EnvelopeCheck(run, env, verdict, comparison)


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
            env = load_envelope(store, port_id, profile, registry)
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
