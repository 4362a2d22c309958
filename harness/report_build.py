"""The comparison report's data: collect runs (train, or read saved ones) and build its tables.

pandas is the ``report`` extra: it is imported inside the functions that build tables, so
``harness`` imports without it. Rendering lives in ``report_render``, plots in ``report_plots``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.checking import load_golden
from harness.compare import Comparison, compare_trajectories
from harness.errors import GoldenMissingError, HarnessError
from harness.golden import META_FILE, GoldenStore, record_command
from harness.interface import Tolerance, Trajectory, TutorialSpec, config_hash
from harness.registry import Registry, default_registry
from harness.runner import ProgressFn, run_port
from harness.seeding import prepare_determinism, seed_everything

if TYPE_CHECKING:
    import pandas as pd

#: The framework whose initial weights the other framework's port is loaded with.
REFERENCE_FRAMEWORK = "torch"
#: Folder (under a saved-runs folder's device folder) of the runs started from transferred weights.
CROSS_DIR = "cross_framework"
FAILURES_FILE = "failures.json"
#: Config changes that make the two frameworks' models of a tutorial the same model before
#: weights are moved: d2l's MXNet concise RNN is ReLU, its torch one tanh (char_rnn spec).
CROSS_CONFIG_OVERRIDES: dict[str, dict[str, Any]] = {
    "char_rnn": {"mxnet_concise_activation": "tanh"},
}
#: What one "item" of a port's throughput is, per tutorial (``EpochRecord.items``).
ITEM_UNITS = {"char_rnn": "tokens", "elman_sine": "SGD steps", "sin_cos": "time points",
              "rnn_windows": "windows"}

ProgressFactory = Callable[[str], AbstractContextManager[ProgressFn | None]]


@dataclass(frozen=True)
class RunFailure:
    """A run that could not be made: which, where, and the harness's message."""

    port_id: str
    device: str
    kind: str  # "run" or "cross_framework"
    message: str


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

    A port runs with its golden's seed when ``golden`` holds one (as ``check`` does), else
    the spec's. Failures (crash, divergence, missing corpus or device) are kept, not raised.
    """
    registry = registry or default_registry()
    pairs = cross_pairs(registry, port_ids) if pairs is None else pairs
    progress = progress or (lambda label: nullcontext(None))
    runs = RunSet(profile)
    for device in devices:
        for port_id in port_ids:
            seed = _golden_seed(golden, port_id, profile)
            train = partial(run_port, port_id, profile, seed=seed, device=device,
                            registry=registry)
            _attempt(runs, port_id, device, "run", train,
                     progress(f"{port_id} ({profile}, {device})"))
        for ref, follower in pairs:
            train = partial(transfer_run, ref, follower, profile, device, registry=registry,
                            seed=_golden_seed(golden, ref, profile))
            _attempt(runs, follower, device, CROSS_DIR, train,
                     progress(f"{follower} from {ref}'s weights ({profile}, {device})"))
    return runs


def _attempt(runs: RunSet, port_id: str, device: str, kind: str,
             train: Callable[..., Trajectory],
             bar_cm: AbstractContextManager[ProgressFn | None]) -> None:
    try:
        with bar_cm as bar:
            traj = train(progress=bar)
    except HarnessError as exc:
        runs.failures.append(RunFailure(port_id, device, kind, str(exc)))
        return
    (runs.transferred if kind == CROSS_DIR else runs.runs).append(traj)


def _golden_seed(golden: GoldenStore | None, port_id: str, profile: str) -> int | None:
    if golden is None or not golden.exists(port_id, profile):
        return None
    try:
        meta = json.loads((golden.path(port_id, profile) / META_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    seed = meta.get("seed")
    return seed if isinstance(seed, int) else None


def cross_config(spec: TutorialSpec, profile: str) -> Any:
    """The profile's config with the tutorial's same-model overrides applied."""
    config = spec.profile(profile)
    overrides = CROSS_CONFIG_OVERRIDES.get(spec.name, {})
    return dataclasses.replace(config, **overrides) if overrides else config


def transfer_run(reference: str, follower: str, profile: str, device: str = "cpu", *,
                 seed: int | None = None, registry: Registry | None = None,
                 progress: ProgressFn | None = None) -> Trajectory:
    """Train ``follower`` from ``reference``'s initial weights for ``seed`` (default: the
    spec's), as tests/cross does; the reference's own run with that seed is the yardstick."""
    registry = registry or default_registry()
    spec = registry.spec(registry.get(reference).tutorial)
    config = cross_config(spec, profile)
    seed = spec.default_seed if seed is None else seed
    prepare_determinism()
    port = registry.load(reference)
    seed_everything(seed)
    port.build(config, seed, device)
    params = port.get_params()
    # same seed for the follower: data order may depend on it (char_rnn's epoch offsets)
    traj = run_port(follower, profile, seed=seed, config=config, params=params, device=device,
                    registry=registry, progress=progress)
    traj.meta["reference_port"] = reference
    return traj


# ---------------------------------------------------------------- saved runs


def _device_dir(device: str) -> str:
    return device.replace(":", "-")


def save_runs(runs: RunSet, folder: str | Path) -> Path:
    """Write every run as plain CSV + JSON (``GoldenStore`` format) under ``folder``:
    ``<device>/<tutorial>/<port>/<profile>/`` and ``<device>/cross_framework/...``."""
    root = Path(folder)
    for traj in runs.runs:
        GoldenStore(root / _device_dir(traj.meta["device"])).write(traj)
    for traj in runs.transferred:
        GoldenStore(root / _device_dir(traj.meta["device"]) / CROSS_DIR).write(traj)
    failures = [dataclasses.asdict(f) for f in runs.failures]
    root.mkdir(parents=True, exist_ok=True)
    index = {"profile": runs.profile, "command": runs.command, "failures": failures}
    (root / FAILURES_FILE).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return root


def load_runs(folder: str | Path) -> RunSet:
    """Read what ``save_runs`` wrote (every run is checked like a golden on read)."""
    root = Path(folder)
    if not (root / FAILURES_FILE).exists():
        raise GoldenMissingError(
            f"{root} holds no saved runs.",
            context={"looked for": root / FAILURES_FILE},
            fix="save runs first: `rnn-harness report --save-runs DIR`, then pass that DIR "
            "to --from-runs.")
    index = json.loads((root / FAILURES_FILE).read_text(encoding="utf-8"))
    runs = RunSet(index["profile"], failures=[RunFailure(**f) for f in index["failures"]],
                  command=index.get("command", ""))
    for meta_path in sorted(root.rglob(META_FILE)):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        traj = GoldenStore(meta_path.parents[3]).read(meta["port"], meta["profile"])
        is_cross = meta_path.parents[3].name == CROSS_DIR
        (runs.transferred if is_cross else runs.runs).append(traj)
    return runs


# ---------------------------------------------------------------- tables


@dataclass(frozen=True)
class GoldenStatus:
    """How a run compares with its golden, as the summary shows it."""

    status: str
    first_divergent_epoch: int | None = None
    max_rel_error: float | None = None
    golden: Trajectory | None = None
    note: str = ""


def golden_status(traj: Trajectory, store: GoldenStore, registry: Registry) -> GoldenStatus:
    """pass / REGRESSION (first divergent epoch, max rel error) / no golden / refused."""
    spec = registry.spec(traj.tutorial)
    if traj.meta.get("config_hash") != config_hash(spec.profile(traj.profile)):
        return GoldenStatus("not comparable", note="the run's config differs from the profile's")
    try:
        expected = load_golden(store, traj.port_id, traj.profile, registry)
    except GoldenMissingError:
        return GoldenStatus("no golden", note=f"`{record_command(traj.port_id, traj.profile)}`")
    except HarnessError as exc:
        return GoldenStatus("golden refused", note=exc.summary)
    comp = compare_trajectories(traj, expected, spec.metrics, spec.tolerances)
    return GoldenStatus("pass" if comp.passed else "REGRESSION", comp.first_divergent_epoch,
                        comp.max_rel_error, expected)


def cross_tolerances(spec: TutorialSpec) -> dict[str, Tolerance]:
    """The spec's cross-framework tolerances, falling back to its golden ones."""
    merged = dict(spec.tolerances)
    merged.update(spec.cross_framework)
    return merged


def cross_comparison(runs: RunSet, follower: Trajectory, registry: Registry
                     ) -> Comparison | None:
    """The transferred follower run against its reference's run on the same device."""
    spec = registry.spec(follower.tutorial)
    reference = runs.run(follower.meta["reference_port"], follower.meta["device"])
    if reference is None:
        return None
    return compare_trajectories(follower, reference, spec.metrics, cross_tolerances(spec))


def _cross_columns(runs: RunSet, traj: Trajectory, registry: Registry) -> dict[str, Any]:
    device = traj.meta["device"]
    follower = runs.transfer(traj.port_id, device) or next(
        (t for t in runs.transferred if t.meta.get("reference_port") == traj.port_id
         and t.meta.get("device") == device), None)
    empty = {"cross partner": "", "cross max rel diff": np.nan, "cross at epoch": np.nan,
             "cross rtol": np.nan, "cross within tol": ""}
    comp = None if follower is None else cross_comparison(runs, follower, registry)
    if follower is None or comp is None:
        return empty
    partner = (follower.meta["reference_port"] if follower.port_id == traj.port_id
               else follower.port_id)
    worst = max(comp.metrics, key=lambda m: m.max_rel_error)
    return {"cross partner": partner, "cross max rel diff": worst.max_rel_error,
            "cross at epoch": worst.worst_epoch, "cross rtol": worst.tolerance.rtol,
            "cross within tol": "yes" if comp.passed else "NO"}


def _throughput(traj: Trajectory) -> tuple[float, float]:
    """(mean seconds per epoch, items per second over the whole run)."""
    wall = traj.timing.get("wall_s", np.zeros(0))
    if not len(wall):
        return np.nan, np.nan
    items = float(np.sum(traj.timing["items_per_s"] * wall))
    return float(np.mean(wall)), items / float(np.sum(wall))


def summary_row(runs: RunSet, traj: Trajectory, store: GoldenStore, registry: Registry
                ) -> dict[str, Any]:
    """One summary row: identity, final figure, golden status, cross distance, speed."""
    entry = registry.get(traj.port_id)
    spec = registry.spec(entry.tutorial)
    metric = spec.metrics[0]
    gold = golden_status(traj, store, registry)
    seconds, rate = _throughput(traj)
    versions = traj.meta.get("versions", {})
    return {
        "tutorial": entry.tutorial, "port": traj.port_id, "device": traj.meta.get("device"),
        "framework": entry.framework, "version": versions.get(entry.framework) or "",
        "profile": traj.profile, "epochs": traj.num_epochs, "metric": metric,
        "final": float(traj.metrics[metric][-1]) if traj.num_epochs else np.nan,
        "golden": gold.status,
        "golden first divergent epoch": gold.first_divergent_epoch,
        "golden max rel err": gold.max_rel_error,
        "golden note": gold.note,
        **_cross_columns(runs, traj, registry),
        "s/epoch": seconds, "items/s": rate,
        "item": ITEM_UNITS.get(entry.tutorial, "items"),
    }


SUMMARY_COLUMNS = (
    "tutorial", "port", "device", "framework", "version", "profile", "epochs", "metric",
    "final", "golden", "golden first divergent epoch", "golden max rel err", "golden note",
    "cross partner", "cross max rel diff", "cross at epoch", "cross rtol", "cross within tol",
    "s/epoch", "items/s", "item")


def summary_table(runs: RunSet, store: GoldenStore, registry: Registry | None = None
                  ) -> pd.DataFrame:
    """One row per port x device (failed runs included, status ERROR)."""
    import pandas as pd

    registry = registry or default_registry()
    rows = [summary_row(runs, t, store, registry) for t in runs.runs]
    for f in runs.failures:
        if f.kind == "run":
            rows.append({"tutorial": f.port_id.split("/")[0], "port": f.port_id,
                         "device": f.device, "profile": runs.profile, "golden": "ERROR",
                         "golden note": f.message.splitlines()[0]})
    table = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    for column in ("epochs", "golden first divergent epoch", "cross at epoch"):
        table[column] = table[column].astype("Int64")
    return table.sort_values(["tutorial", "port", "device"], kind="stable").reset_index(drop=True)


def _long_rows(traj: Trajectory, kind: str) -> Iterator[dict[str, Any]]:
    for metric, values in traj.metrics.items():
        for epoch, value in enumerate(values):
            yield {"tutorial": traj.tutorial, "port": traj.port_id,
                   "device": traj.meta.get("device", ""), "kind": kind, "metric": metric,
                   "epoch": epoch, "value": float(value)}


def trajectory_table(runs: RunSet, store: GoldenStore, registry: Registry | None = None
                     ) -> pd.DataFrame:
    """Long table of every curve: kind is ``run``, ``golden`` or ``from <reference>``."""
    import pandas as pd

    registry = registry or default_registry()
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for traj in runs.runs:
        rows += _long_rows(traj, "run")
        gold = golden_status(traj, store, registry).golden
        if gold is not None and traj.port_id not in seen:
            seen.add(traj.port_id)
            rows += [{**r, "device": ""} for r in _long_rows(gold, "golden")]
    for traj in runs.transferred:
        rows += _long_rows(traj, f"from {traj.meta['reference_port']}")
    return pd.DataFrame(rows, columns=["tutorial", "port", "device", "kind", "metric", "epoch",
                                       "value"])


def continuations_table(runs: RunSet, tutorial: str = "char_rnn") -> pd.DataFrame:
    """The generated continuations of ``tutorial``'s runs: one row per prefix, one column
    per port (and device, when there are several)."""
    import pandas as pd

    chosen = [t for t in runs.runs if t.tutorial == tutorial and "predictions" in t.outputs
              and isinstance(t.outputs["predictions"], dict)]
    several = len({t.meta.get("device") for t in chosen}) > 1
    columns = {}
    for t in chosen:
        name = f"{t.port_id} ({t.meta.get('device')})" if several else t.port_id
        columns[name] = pd.Series(t.outputs["predictions"], dtype=object)
    table = pd.DataFrame(columns)
    table.index.name = "prefix"
    return table


def load_envelope(store: GoldenStore, port_id: str, profile: str) -> pd.DataFrame | None:
    """The seed envelope beside a golden (``envelope.csv``: epoch, <metric>_mean/_std/_min/
    _max), or None when none is recorded."""
    import pandas as pd

    path = store.path(port_id, profile) / "envelope.csv"
    return pd.read_csv(path) if path.exists() else None

