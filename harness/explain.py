"""``explain``: which recorded factor alone brings a failing prefix run back inside its
tolerance. The run is replayed in a child process as this machine runs it, then once per
factor that the golden's provenance records otherwise (threads, torch's CPU capability, MKL's
CBWR mode, the OpenBLAS core, numpy's SIMD, XLA flags...), switched to the golden's value,
and once from the golden's stored initial weights; none passing means the code changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import EXIT_USAGE, HarnessError, PortCrashError, UsageError
from harness.provenance import KERNEL_ENV, provenance_diff
from harness.seeding import THREADS_ENV, recorded_threads

#: XLA flags the JAX backend sets for the thread policy (the threads factor covers them).
XLA_THREAD_FLAGS = ("xla_cpu_multi_thread_eigen", "intra_op_parallelism_threads")
#: torch's capability names -> the ``ATEN_CPU_CAPABILITY`` value that forces each, with the
#: CPU flag it needs.
ATEN = {"AVX512": ("avx512", "avx512f"), "AVX2": ("avx2", "avx2"), "DEFAULT": ("default", None)}
#: The module whose ``__main__`` replays one run in a child process.
_REPLAY = "harness.explain"


@dataclass(frozen=True)
class Factor:
    """One thing the golden records otherwise than this run, and how a replay switches it
    to the golden's value (``env``: variables to set, ``None`` to unset)."""

    name: str
    golden: str
    here: str
    env: Mapping[str, str | None] = field(default_factory=dict)
    initial: bool = False


@dataclass(frozen=True)
class Replay:
    """A prefix run compared with its golden: did it pass, by how much, where it left."""

    passed: bool
    max_rel_error: float
    first: str | None
    provenance: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Explanation:
    """The replay as this machine runs it, one per factor, and what could not be tried."""

    port_id: str
    profile: str
    baseline: Replay
    differences: tuple[str, ...]
    trials: tuple[tuple[Factor, Replay], ...] = ()
    untried: tuple[str, ...] = ()

    @property
    def causes(self) -> tuple[Factor, ...]:
        """The factors each of which alone brings the run back inside its tolerance."""
        return tuple(f for f, r in self.trials if r.passed)


def explain(port_id: str, profile: str = "ci", golden_dir: str | os.PathLike[str] | None = None
            ) -> Explanation:
    """Replay ``port_id``'s prefix run (in child processes) as described above."""
    from harness.check import load_golden, resolve

    req = resolve(port_id, profile, golden_dir=golden_dir)
    golden = load_golden(req).meta
    base = replay(port_id, profile, req.store.root)
    diff = tuple(provenance_diff(golden, {**golden, "provenance": base.provenance}))
    if base.passed:
        return Explanation(port_id, profile, base, diff)
    factors, untried = factors_of(golden, base.provenance, os.environ)
    trials = tuple((f, replay(port_id, profile, req.store.root, f)) for f in factors)
    return Explanation(port_id, profile, base, diff, trials, tuple(untried))


def replay(port_id: str, profile: str, golden_dir: Path, factor: Factor | None = None
           ) -> Replay:
    """The prefix gate of ``port_id`` in a child process, with ``factor`` switched."""
    env = dict(os.environ)
    for key, value in (factor.env if factor else {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    cmd = [sys.executable, "-m", _REPLAY, port_id, profile, str(golden_dir)]
    if factor is not None and factor.initial:
        cmd.append("--initial")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        error = UsageError if out.returncode == EXIT_USAGE else PortCrashError
        raise error(
            f"The replay of {port_id} ({profile}) for explain failed"
            f"{' with ' + factor.name + ' switched' if factor else ''}.",
            context={"exit": out.returncode}, details=out.stderr.strip()[-1500:],
            fix=f"run `rnn-harness check {port_id} --profile {profile}` here and fix what it "
            "reports first; explain needs a run that completes.", port=port_id, profile=profile)
    return Replay(**json.loads(lines[-1]))


def factors_of(golden: Mapping[str, Any], here: Mapping[str, Any], environ: Mapping[str, str]
               ) -> tuple[list[Factor], list[str]]:
    """The factors this run can switch to the golden's record, and the differences it
    cannot switch here (each with why). ``here`` is this run's provenance."""
    theirs = golden.get("provenance") or {}
    factors: dict[str, Factor] = {}
    untried: list[str] = []
    recorded = recorded_threads(golden)
    if recorded is not None and environ.get(THREADS_ENV) not in (None, str(recorded)):
        factors[THREADS_ENV] = Factor("threads", str(recorded), environ[THREADS_ENV],
                                      {THREADS_ENV: str(recorded)})
    if not theirs:
        untried.append("the golden records no provenance: only threads and initial weights "
                       "can be tried (re-record it to keep one)")
    for key in KERNEL_ENV:
        gv, hv = _env_value(theirs, key), _env_value({"env": environ}, key)
        if theirs and gv != hv:
            value = (theirs.get("env") or {}).get(key) if key != "XLA_FLAGS" else gv
            factors[key] = Factor(key, gv or "unset", hv or "unset", {key: value})
    _derived(theirs, here, factors, untried)
    factors["initial"] = Factor("initial weights", "stored", "seeded", initial=True)
    return list(factors.values()), untried


def _env_value(prov: Mapping[str, Any], key: str) -> str | None:
    value = (prov.get("env") or {}).get(key)
    if key == "XLA_FLAGS" and value:  # the backend's own thread flags are the threads factor
        kept = [f for f in value.split() if f.lstrip("-").partition("=")[0] not in XLA_THREAD_FLAGS]
        value = " ".join(kept) or None
    return value


def _derived(theirs: Mapping[str, Any], here: Mapping[str, Any], factors: dict[str, Factor],
             untried: list[str]) -> None:
    """Factors the kernels picked (not an env variable): torch's capability, the OpenBLAS
    core, numpy's SIMD targets, JAX's matmul precision."""
    flags = (here.get("cpu") or {}).get("flags") or {}
    cap, cap_here = _get(theirs, "torch.cpu_capability"), _get(here, "torch.cpu_capability")
    if cap and cap_here and cap != cap_here and "ATEN_CPU_CAPABILITY" not in factors:
        value, needs = ATEN.get(cap, (None, None))
        if value is None or (needs and not flags.get(needs)):
            untried.append(f"torch cpu capability {cap}: this CPU cannot run it")
        else:
            factors["ATEN_CPU_CAPABILITY"] = Factor("ATEN_CPU_CAPABILITY", value, cap_here,
                                                    {"ATEN_CPU_CAPABILITY": value})
    for block in ("numpy", "mxnet"):
        core, core_here = _get(theirs, f"{block}.blas.core"), _get(here, f"{block}.blas.core")
        if core and core_here and core != core_here and "OPENBLAS_CORETYPE" not in factors:
            factors["OPENBLAS_CORETYPE"] = Factor("OPENBLAS_CORETYPE", core, core_here,
                                                  {"OPENBLAS_CORETYPE": core})
    simd, simd_here = _get(theirs, "numpy.simd_dispatch"), _get(here, "numpy.simd_dispatch")
    same_numpy = _get(theirs, "numpy.version") == _get(here, "numpy.version")
    if same_numpy and isinstance(simd, list) and isinstance(simd_here, list) and simd != simd_here:
        extra = [t for t in simd_here if t not in simd]
        if extra and "NPY_DISABLE_CPU_FEATURES" not in factors:
            factors["NPY_DISABLE_CPU_FEATURES"] = Factor(
                "numpy SIMD", " ".join(simd[-2:]), " ".join(simd_here[-2:]),
                {"NPY_DISABLE_CPU_FEATURES": " ".join(extra)})
        if [t for t in simd if t not in simd_here]:
            untried.append("numpy SIMD: this CPU lacks "
                           + ", ".join(t for t in simd if t not in simd_here))
    for key, why in (("jax.matmul_precision", "the JAX backend sets it"),
                     ("torch.float32_matmul_precision", "the torch backend sets it")):
        if _get(theirs, key) not in (None, _get(here, key)):
            untried.append(f"{key.replace('_', ' ')} {_get(theirs, key)}: {why}")


def _get(prov: Mapping[str, Any], dotted: str) -> Any:
    value: Any = prov
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _replay_main(argv: list[str]) -> int:
    """Child process: gate the prefix run, print one JSON line (a ``Replay``)."""
    from harness.check import (
        check_request,
        divergence_notes,
        golden_seed,
        load_golden,
        load_initial,
        resolve,
    )
    from harness.runner import run_port
    from harness.seeding import use_threads

    port_id, profile, golden_dir = argv[:3]
    req = resolve(port_id, profile, golden_dir=golden_dir)
    golden = load_golden(req)
    use_threads(recorded_threads(golden.meta))
    params = load_initial(req, golden) if "--initial" in argv else None
    run = run_port(port_id, profile, seed=golden_seed(golden, req), params=params,
                   registry=req.registry)
    comp = check_request(req, obtained=run, segments=False, write_obtained=False).comparison
    if comp is None:  # the golden could not be judged against: say so as a failure
        print(json.dumps({"passed": False, "max_rel_error": float("nan"), "first": None,
                          "provenance": run.meta.get("provenance", {})}))
        return 0
    notes = divergence_notes(comp)
    print(json.dumps({"passed": comp.passed, "max_rel_error": comp.max_rel_error,
                      "first": notes[0] if notes else None,
                      "provenance": run.meta.get("provenance", {})}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(_replay_main(sys.argv[1:]))
    except HarnessError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(exc.exit_code)
