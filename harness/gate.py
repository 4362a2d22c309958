"""The gate: the one routine that compares a run with its golden.

Modelled on pytest-regressions' ``perform_regression_check``: resolve the request once
(port, profile, seed, device, golden dir), load and verify the golden, run (unless the
caller already has the run), compare, write the obtained files beside the golden, and
return a verdict. The CLI, the pytest plugin, the report and the envelopes all call
``gate``; nothing else compares a run with a golden.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.compare import Comparison, compare_trajectories
from harness.errors import ConfigMismatchError, HarnessError
from harness.golden import GoldenStore, record_command
from harness.interface import Trajectory, TutorialSpec, config_hash
from harness.registry import Registry, default_registry
from harness.runner import ProgressFn, parse_device, run_port

GOLDEN_DIR_ENV = "RNN_HARNESS_GOLDEN"


def default_golden_dir() -> Path:
    """``$RNN_HARNESS_GOLDEN``, else the repository's ``golden/`` beside this package,
    else ``./golden``: the one default the CLI and the plugin share."""
    if os.environ.get(GOLDEN_DIR_ENV):
        return Path(os.environ[GOLDEN_DIR_ENV]).resolve()
    beside = Path(__file__).resolve().parent.parent / "golden"
    return beside if beside.is_dir() else Path("golden").resolve()


@dataclass(frozen=True)
class GateRequest:
    """One resolved gate request. Build it with ``resolve``."""

    port_id: str
    profile: str
    device: str
    store: GoldenStore
    registry: Registry
    spec: TutorialSpec


def resolve(port_id: str, profile: str, *, device: str = "cpu",
            golden_dir: str | os.PathLike[str] | None = None,
            registry: Registry | None = None) -> GateRequest:
    """Validate every part of a request before anything is read or trained."""
    registry = registry or default_registry()
    entry = registry.get(port_id)
    spec = registry.spec(entry.tutorial)
    spec.profile(profile)
    parse_device(device)
    store = GoldenStore(default_golden_dir() if golden_dir is None else golden_dir)
    return GateRequest(port_id, profile, device, store, registry, spec)


@dataclass(frozen=True)
class Verdict:
    """A run, its golden, how they compare, and where the obtained files went (if written)."""

    request: GateRequest
    obtained: Trajectory
    expected: Trajectory
    comparison: Comparison
    obtained_path: Path | None = None

    @property
    def passed(self) -> bool:
        return self.comparison.passed

    @property
    def golden_path(self) -> Path:
        return self.request.store.path(self.request.port_id, self.request.profile)


def load_golden(req: GateRequest) -> Trajectory:
    """Read and verify the golden; refuse one recorded for a different configuration."""
    golden = req.store.read(req.port_id, req.profile)
    current = config_hash(req.spec.profile(req.profile))
    if golden.meta["config_hash"] != current:
        raise ConfigMismatchError(
            f"The golden for {req.port_id} ({req.profile}) was recorded with a different "
            "config.",
            context={"golden config_hash": golden.meta["config_hash"],
                     "current config_hash": current,
                     "golden config": golden.meta.get("config")},
            fix="if the spec's profile changed on purpose, re-record: "
            f"`{record_command(req.port_id, req.profile)}` and say why in the commit; "
            "otherwise restore the profile in spec.py.",
            tutorial=req.spec.name, port=req.port_id, profile=req.profile,
        )
    return golden


def golden_seed(golden: Trajectory, req: GateRequest) -> int:
    """The seed a check must train with: the one the golden was recorded with."""
    seed = golden.meta.get("seed")
    return seed if isinstance(seed, int) else req.spec.default_seed


def gate(req: GateRequest, obtained: Trajectory | None = None, *,
         progress: ProgressFn | None = None, write_obtained: bool = True) -> Verdict:
    """Load and verify the golden, train (unless ``obtained`` is given), compare, and on a
    mismatch write ``*.obtained.*`` beside the golden. The golden is read first, so a
    missing or broken golden fails before any training time is spent."""
    expected = load_golden(req)
    seed = golden_seed(expected, req)
    if obtained is None:
        obtained = run_port(req.port_id, req.profile, seed=seed, device=req.device,
                            registry=req.registry, progress=progress)
    elif obtained.meta.get("seed", seed) != seed:
        raise ConfigMismatchError(
            f"The run of {req.port_id} ({req.profile}) used seed {obtained.meta.get('seed')}"
            f", its golden seed {seed}.",
            context={"golden": req.store.path(req.port_id, req.profile)},
            fix=f"train with the golden's seed ({seed}), e.g. run_port(..., seed={seed}), or "
            "re-record the golden on purpose with the seed you want.",
            tutorial=req.spec.name, port=req.port_id, profile=req.profile,
        )
    comparison = compare_trajectories(obtained, expected, req.spec.metrics,
                                      req.spec.tolerances)
    path = None
    if not comparison.passed and write_obtained:
        path = _write_obtained(req, obtained)
    return Verdict(req, obtained, expected, comparison, path)


def _write_obtained(req: GateRequest, obtained: Trajectory) -> Path | None:
    """The obtained files beside the golden; ``None`` when that folder is not writable
    (the verdict stands either way)."""
    try:
        return req.store.write(obtained, obtained=True)
    except OSError:
        return None


def record(req: GateRequest, *, seed: int | None = None,
           progress: ProgressFn | None = None) -> Trajectory:
    """Train and write the run as the golden (the only writer of goldens). Training
    finishes before anything is written, so a failed run changes nothing."""
    traj = run_port(req.port_id, req.profile, seed=seed, device=req.device,
                    registry=req.registry, progress=progress)
    req.store.write(traj)
    return traj


__all__ = ["GateRequest", "HarnessError", "Verdict", "default_golden_dir", "gate",
           "golden_seed", "load_golden", "record", "resolve"]
