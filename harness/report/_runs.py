"""The runs a report is built from: train every port (and each follower from its reference
framework's initial weights), keeping failures as data instead of raising them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import partial

from harness.backends import REFERENCE_FRAMEWORK
from harness.check import golden_seed, load_golden, resolve
from harness.errors import DivergenceError, HarnessError
from harness.golden import GoldenStore
from harness.interface import Trajectory
from harness.registry import Registry, default_registry
from harness.runner import ProgressFn, run_port
from harness.seeding import prepare_determinism, seed_everything

#: ``RunFailure.kind`` (and saved-runs folder) of a follower trained from transferred weights.
CROSS_DIR = "cross_framework"

ProgressFactory = Callable[[str], AbstractContextManager[ProgressFn | None]]


@dataclass(frozen=True)
class RunFailure:
    """A run that could not be made: which, where, and the harness's message. ``source``
    is the saved-runs folder it was read from (empty when trained here); ``error`` the
    error's class name; ``epoch`` where training diverged (a NaN or infinite metric);
    ``partial`` the metrics of the epochs it finished before it stopped."""

    port_id: str
    device: str
    kind: str  # "run" or CROSS_DIR
    message: str
    source: str = ""
    error: str = ""
    epoch: int | None = None
    #: the reference port whose initial weights a CROSS_DIR run started from
    reference: str = ""
    partial: dict[str, list[float]] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class RunSource:
    """A saved-runs folder a report was read from, and the command that trained it."""

    folder: str
    command: str


@dataclass
class RunSet:
    """Everything a report is built from: seeded runs, weight-transfer runs, failures."""

    profile: str
    runs: list[Trajectory] = field(default_factory=list)
    #: Follower ports trained from their reference port's initial weights
    #: (``meta["reference_port"]`` names the reference).
    transferred: list[Trajectory] = field(default_factory=list)
    failures: list[RunFailure] = field(default_factory=list)
    #: The command line that trained these runs (shown under "reproduce").
    command: str = ""
    #: The saved-runs folders these runs were read from (several: a merged report).
    sources: list[RunSource] = field(default_factory=list)

    def run(self, port_id: str, device: str) -> Trajectory | None:
        return _find(self.runs, port_id, device)

    def transfer(self, port_id: str, device: str) -> Trajectory | None:
        return _find(self.transferred, port_id, device)


def _find(runs: Sequence[Trajectory], port_id: str, device: str) -> Trajectory | None:
    return next((t for t in runs if t.port_id == port_id and t.meta.get("device") == device),
                None)


def cross_pairs(registry: Registry, port_ids: Sequence[str],
                reference: str = REFERENCE_FRAMEWORK) -> list[tuple[str, str]]:
    """(reference, follower) pairs among ``port_ids``: same tutorial and variant, the
    reference in ``reference``'s framework and the follower in another one."""
    entries = [registry.get(p) for p in port_ids]
    return [(a.port_id, b.port_id) for a in entries for b in entries
            if a.framework == reference and b.framework != reference
            and (a.tutorial, a.variant) == (b.tutorial, b.variant)]


def collect_runs(port_ids: Sequence[str], profile: str, devices: Sequence[str] = ("cpu",), *,
                 registry: Registry | None = None, golden: GoldenStore | None = None,
                 pairs: Sequence[tuple[str, str]] | None = None,
                 progress: ProgressFactory | None = None) -> RunSet:
    """Train every port on every device, then each follower from its reference's weights.

    A port runs with its golden's seed when ``golden`` holds a readable one (as ``check``
    does), else with the spec's (its summary row then says why the golden was not used).
    Failures (crash, divergence, missing corpus or device) are kept, not raised.
    """
    registry = registry or default_registry()
    pairs = cross_pairs(registry, port_ids) if pairs is None else pairs
    progress = progress or (lambda label: nullcontext(None))
    runs = RunSet(profile)
    for device in devices:
        for port_id in port_ids:
            seed = _golden_seed(golden, registry, port_id, profile)
            train = partial(run_port, port_id, profile, seed=seed, device=device,
                            registry=registry)
            _attempt(runs, port_id, device, "run", train,
                     progress(f"{port_id} ({profile}, {device})"))
        for ref, follower in pairs:
            train = partial(transfer_run, ref, follower, profile, device, registry=registry,
                            seed=_golden_seed(golden, registry, ref, profile))
            _attempt(runs, follower, device, CROSS_DIR, train,
                     progress(f"{follower} from {ref}'s weights ({profile}, {device})"), ref)
    return runs


def _attempt(runs: RunSet, port_id: str, device: str, kind: str,
             train: Callable[..., Trajectory],
             bar_cm: AbstractContextManager[ProgressFn | None], reference: str = "") -> None:
    done: dict[str, list[float]] = {}
    try:
        with bar_cm as bar:
            traj = train(progress=_recording(done, bar))
    except HarnessError as exc:
        # the runner checks each epoch before reporting it: ``done`` holds finite epochs only
        epoch = exc.context.get("epoch") if isinstance(exc, DivergenceError) else None
        runs.failures.append(RunFailure(
            port_id, device, kind, str(exc), error=type(exc).__name__,
            epoch=epoch if isinstance(epoch, int) else None, reference=reference, partial=done))
        return
    (runs.transferred if kind == CROSS_DIR else runs.runs).append(traj)


def _recording(done: dict[str, list[float]], bar: ProgressFn | None) -> ProgressFn:
    """A progress callback that keeps every finished epoch's metrics in ``done`` (what a
    run that later fails had reached), then forwards to ``bar``."""
    def progress(epoch: int, total: int, metrics: Mapping[str, float]) -> None:
        for name, value in metrics.items():
            done.setdefault(name, []).append(float(value))
        if bar is not None:
            bar(epoch, total, metrics)
    return progress


def _golden_seed(store: GoldenStore | None, registry: Registry, port_id: str,
                 profile: str) -> int | None:
    """The seed of the golden the gate would read, or None (train with the spec's seed)
    when there is no usable golden: the summary then shows "no golden" or "golden refused"
    with the gate's reason, never a silent pass."""
    if store is None:
        return None
    try:
        req = resolve(port_id, profile, golden_dir=store.root, registry=registry)
        return golden_seed(load_golden(req), req)
    except HarnessError:
        return None


def transfer_run(reference: str, follower: str, profile: str, device: str = "cpu", *,
                 seed: int | None = None, registry: Registry | None = None,
                 progress: ProgressFn | None = None) -> Trajectory:
    """Train ``follower`` from ``reference``'s initial weights for ``seed`` (default: the
    spec's), under the spec's same-model config (``TutorialSpec.same_model_config``); the
    reference's own run with that seed is the yardstick."""
    registry = registry or default_registry()
    spec = registry.spec(registry.get(reference).tutorial)
    config = spec.same_model_config(profile)
    seed = spec.default_seed if seed is None else seed
    prepare_determinism()
    port = registry.load(reference)
    seed_everything(seed)
    port.build(config, seed, device)
    params = port.get_params()
    # same seed for the follower: data order may depend on it (e.g. random epoch offsets)
    traj = run_port(follower, profile, seed=seed, config=config, params=params, device=device,
                    registry=registry, progress=progress)
    traj.meta["reference_port"] = reference
    return traj
