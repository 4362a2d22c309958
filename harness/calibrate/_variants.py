"""Kernel variants for calibration: the profile's run trained once per variant that applies
to the port's framework (``harness.provenance.KERNEL_VARIANTS``), each in a child process
whose environment selects the variant's kernels (a framework reads these variables when it
is imported, so they cannot be switched in this process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import EXIT_USAGE, HarnessError, PortCrashError, UsageError
from harness.golden import GoldenStore
from harness.interface import Trajectory
from harness.provenance import KERNEL_VARIANTS, numpy_info
from harness.registry import PortEntry, Registry
from harness.seeding import THREADS_ENV, current_threads

#: numpy's dispatch targets that need AVX-512 (1.x and 2.x names)
AVX512_TARGETS = ("AVX512", "X86_V4")
#: The module whose ``__main__`` trains one run in a child process.
_CHILD = "harness.calibrate._variants"


def variant_env(name: str) -> dict[str, str]:
    """The environment that forces kernel variant ``name`` on this machine."""
    if name == "numpy-no-avx512":  # every AVX-512 target of this numpy's dispatch
        targets = numpy_info().get("simd_dispatch") or []
        off = [str(t) for t in targets if str(t).startswith(AVX512_TARGETS)]
        return {"NPY_DISABLE_CPU_FEATURES": " ".join(off)} if off else {}
    return dict(KERNEL_VARIANTS[name][0])


def variants_for(framework: str) -> dict[str, dict[str, str]]:
    """Every kernel variant that changes ``framework``'s kernels, with its environment."""
    return {name: variant_env(name) for name, (_, frameworks, _) in KERNEL_VARIANTS.items()
            if framework in frameworks}


def took_effect(name: str, provenance: Mapping[str, Any]) -> bool | None:
    """Whether a run's provenance shows variant ``name`` in force (None: nothing shows it)."""
    shows = KERNEL_VARIANTS[name][2] if name in KERNEL_VARIANTS else None
    if shows is None:
        return None
    value: Any = provenance
    for part in shows[0].split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return None if value is None else value == shows[1]


def run_variant(port_id: str, profile: str, name: str, env: Mapping[str, str], *,
                device: str = "cpu", registry: Registry) -> Trajectory:
    """``port_id``'s ``profile`` run trained in a child process under ``env`` (added to
    this process's environment, at this process's thread count)."""
    with tempfile.TemporaryDirectory(prefix="rnn-harness-variant-") as tmp:
        job, result = Path(tmp) / "job.json", Path(tmp) / "run"
        job.write_text(json.dumps({"port": port_id, "profile": profile, "device": device,
                                   "registry": _registry_json(registry)}))
        child_env = {**os.environ, **env, THREADS_ENV: str(current_threads()),
                     "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        out = subprocess.run([sys.executable, "-m", _CHILD, str(job), str(result)],
                             capture_output=True, text=True, env=child_env)
        if out.returncode != 0 or not result.exists():
            error = UsageError if out.returncode == EXIT_USAGE else PortCrashError
            raise error(
                f"The run of {port_id} ({profile}) under kernel variant {name} failed.",
                context={"variant": " ".join(f"{k}={v}" for k, v in env.items()) or "-",
                         "exit": out.returncode},
                details=out.stderr.strip()[-1500:],
                fix=f"run it alone to see why: `{' '.join(f'{k}={v}' for k, v in env.items())}"
                f" rnn-harness check {port_id} --profile {profile}`.",
                port=port_id, profile=profile)
        # the run comes back through the store's codec (CSV + JSON, checksummed): no pickle
        return GoldenStore(result).read(port_id, profile)


def _child_main(argv: list[str]) -> int:
    """Child process: train the run the job file names, write it through the store."""
    from harness.runner import run_port
    from harness.seeding import use_threads

    job, result = json.loads(Path(argv[0]).read_text()), Path(argv[1])
    use_threads()
    run = run_port(job["port"], job["profile"], device=job["device"],
                   registry=_registry_from_json(job["registry"]))
    GoldenStore(result).write(run)
    return 0


def _registry_json(registry: Registry) -> dict[str, Any]:
    """``registry`` as its ``"module:attr"`` targets (what a child process rebuilds it from)."""
    return {"entries": [{"tutorial": e.tutorial, "framework": e.framework,
                         "variant": e.variant, "target": e.target, "origin": e.origin,
                         "distribution": e.distribution} for e in registry.entries()],
            "specs": {t: registry.spec_target(t) for t in registry.tutorials()}}


def _registry_from_json(data: Mapping[str, Any]) -> Registry:
    return Registry([PortEntry(**e) for e in data["entries"]], dict(data["specs"]))


if __name__ == "__main__":
    try:
        sys.exit(_child_main(sys.argv[1:]))
    except HarnessError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(exc.exit_code)
