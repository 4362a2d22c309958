"""Simulated machines: the ci gate of every port, segments included, under each kernel
variant this CPU can be forced into (another ISA for torch's dispatch, MKL's compatible
path, oneDNN's ISA limit, another OpenBLAS core, numpy without AVX-512, XLA limited to
AVX2) must raise no false alarm. A scheduled suite (``tox -e machines``, marker
``machines``); the measured noise per variant is in docs/machines.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.backends import framework_available
from harness.provenance import KERNEL_VARIANTS
from harness.registry import default_registry

ROOT = Path(__file__).resolve().parents[2]
#: ``torch=PYTHON mxnet=PYTHON jax=PYTHON``: each framework's interpreter (tox sets the
#: sibling envs'); a framework not named runs under this interpreter where installed here.
PYTHONS_ENV = "RNN_HARNESS_MACHINE_PYTHONS"
#: numpy's dispatch targets that need AVX-512 (1.x and 2.x names)
AVX512_TARGETS = ("AVX512", "X86_V4")

#: variant -> (environment, frameworks whose kernels it changes, what the run's provenance
#: shows when it took effect): the one table, which `calibrate --variants` reads too
VARIANTS = KERNEL_VARIANTS
CASES = [pytest.param(variant, fw, id=f"{variant}-{fw}")
         for variant, (_, frameworks, _) in VARIANTS.items() for fw in frameworks]


def interpreter(framework: str) -> str | None:
    """The interpreter that runs ``framework``'s ports, or None where there is none."""
    named = dict(pair.split("=", 1) for pair in os.environ.get(PYTHONS_ENV, "").split())
    if framework in named:
        return named[framework] if Path(named[framework]).exists() else None
    return sys.executable if framework_available(framework) else None


def _run_python(python: str, code: str, env: dict[str, str]) -> str:
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env,
                         cwd=ROOT, check=True)
    return out.stdout


def _numpy_no_avx512(python: str) -> dict[str, str]:
    """Every AVX-512 dispatch target of that interpreter's numpy, disabled."""
    code = ("import numpy; from numpy.lib import NumpyVersion; "
            "m = __import__('numpy._core._multiarray_umath' if NumpyVersion(numpy.__version__)"
            " >= '2.0.0' else 'numpy.core._multiarray_umath', fromlist=['x']); "
            "print(' '.join(m.__cpu_dispatch__))")
    targets = _run_python(python, code, dict(os.environ)).split()
    return {"NPY_DISABLE_CPU_FEATURES": " ".join(t for t in targets
                                                 if t.startswith(AVX512_TARGETS))}


def variant_env(variant: str, python: str) -> dict[str, str]:
    env, _, _ = VARIANTS[variant]
    return _numpy_no_avx512(python) if variant == "numpy-no-avx512" else dict(env)


def in_force(python: str, framework: str, env: dict[str, str]) -> dict:
    """The provenance of a run of ``framework`` started under ``env``."""
    port = next(e.port_id for e in default_registry().entries() if e.framework == framework)
    code = ("import json; from harness.runner import start_port; from harness.seeding "
            f"import environment_info; start_port({port!r}, 'ci'); "
            "print(json.dumps(environment_info()['provenance']))")
    return json.loads(_run_python(python, code, env).splitlines()[-1])


def max_rel_errors(table: str) -> dict[tuple[str, str], float]:
    """(port, row: 'ci' or 'tutorial segments') -> the check table's "worst / tol": the
    largest error as a multiple of its tolerance (a passing segment row that reads
    '<= 1' is left out: it passed, by less than its tolerance)."""
    out, header = {}, None
    for line in table.splitlines():
        bar = "│" if "│" in line else "┃"  # rich's body and header rules
        cells = [c.strip() for c in line.strip().strip("│┃").split(bar)]
        if "worst / tol" in cells:
            header = cells
        elif header and len(cells) == len(header) and "/" in cells[0]:
            value = cells[header.index("worst / tol")].split()
            if value and not value[0].startswith("<"):
                out[(cells[0], cells[header.index("profile")])] = float(value[0])
    return out


@pytest.mark.machines
@pytest.mark.parametrize("variant, framework", CASES)
def test_ci_gate_raises_no_false_alarm_on_a_simulated_machine(variant, framework):
    python = interpreter(framework)
    if python is None:
        pytest.skip(f"{framework} is not installed here: build its env (tox -e {framework} "
                    f"--notest) and name it in {PYTHONS_ENV}")
    env = {**os.environ, **variant_env(variant, python), "COLUMNS": "200"}
    _, _, shows = VARIANTS[variant]
    if shows is not None:
        key, want = shows
        got = in_force(python, framework, env)
        for part in key.split("."):
            got = got.get(part) if isinstance(got, dict) else None
        assert got == want, f"{variant} did not take effect: {key} is {got!r}, not {want!r}"
    ports = [e.port_id for e in default_registry().entries() if e.framework == framework]
    result = subprocess.run([python, "-m", "harness", "check", *ports, "--profile", "ci"],
                            capture_output=True, text=True, env=env, cwd=ROOT)
    noise = max_rel_errors(result.stdout)
    summary = ", ".join(f"{p} {row}: {v:.2g}" for (p, row), v in sorted(noise.items()))
    print(f"{variant} {framework} max rel err: {summary}")
    assert result.returncode == 0, (
        f"false alarm under {variant} ({variant_env(variant, python)}): the ci gate of "
        f"{framework}'s ports failed (exit {result.returncode}):\n{result.stdout[-4000:]}\n"
        f"{result.stderr[-4000:]}")
    assert {p for p, _ in noise} == set(ports), f"ports not checked: {result.stdout}"
