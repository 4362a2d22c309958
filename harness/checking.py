"""The gate: record a golden on purpose, or check a fresh run against its golden."""

from __future__ import annotations

from dataclasses import dataclass

from harness.compare import Comparison, compare_trajectories
from harness.errors import ConfigMismatchError
from harness.golden import GoldenStore, record_command
from harness.interface import Trajectory, config_hash
from harness.registry import Registry, default_registry
from harness.runner import ProgressFn, run_port


@dataclass(frozen=True)
class CheckResult:
    """A fresh run, its golden, and how they compare."""

    obtained: Trajectory
    expected: Trajectory
    comparison: Comparison


def load_golden(store: GoldenStore, port_id: str, profile: str,
                registry: Registry | None = None) -> Trajectory:
    """Read a golden and refuse it if it was recorded for a different configuration."""
    registry = registry or default_registry()
    spec = registry.spec(registry.get(port_id).tutorial)
    current = config_hash(spec.profile(profile))
    golden = store.read(port_id, profile)
    if golden.meta["config_hash"] != current:
        raise ConfigMismatchError(
            f"The golden for {port_id} ({profile}) was recorded with a different config.",
            context={"golden config_hash": golden.meta["config_hash"],
                     "current config_hash": current,
                     "golden config": golden.meta.get("config")},
            fix="if the spec's profile changed on purpose, re-record: "
            f"`{record_command(port_id, profile)}` and say why in the commit; "
            "otherwise restore the profile in spec.py.",
            tutorial=spec.name, port=port_id, profile=profile,
        )
    return golden


def check_port(port_id: str, profile: str, store: GoldenStore, *, device: str = "cpu",
               registry: Registry | None = None, progress: ProgressFn | None = None
               ) -> CheckResult:
    """Train ``port_id`` and compare it with its golden. The golden is read first, so a
    missing or broken golden fails before any training time is spent."""
    registry = registry or default_registry()
    expected = load_golden(store, port_id, profile, registry)
    spec = registry.spec(registry.get(port_id).tutorial)
    obtained = run_port(port_id, profile, seed=expected.meta.get("seed"), device=device,
                        registry=registry, progress=progress)
    comparison = compare_trajectories(obtained, expected, spec.metrics, spec.tolerances)
    if not comparison.passed:
        store.write(obtained, obtained=True)
    return CheckResult(obtained, expected, comparison)


def record_port(port_id: str, profile: str, store: GoldenStore, *, seed: int | None = None,
                device: str = "cpu", registry: Registry | None = None,
                progress: ProgressFn | None = None) -> Trajectory:
    """Train ``port_id`` and write the run as its golden (the only writer of goldens).
    Training finishes before anything is written, so a failed run changes nothing."""
    traj = run_port(port_id, profile, seed=seed, device=device, registry=registry,
                    progress=progress)
    store.write(traj)
    return traj
