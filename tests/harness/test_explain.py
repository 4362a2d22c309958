"""``explain`` names what moved a failing check: one recorded factor of the machine, or the
code. The end-to-end cases train elman_sine's ci profile (seconds per replay)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.backends import framework_available
from harness.cli._explain import explanation_text
from harness.errors import EXIT_REGRESSION
from harness.explain import Explanation, Factor, Replay, factors_of

ROOT = Path(__file__).resolve().parents[2]
needs_torch = pytest.mark.skipif(not framework_available("torch"),
                                 reason="needs torch (tox -e torch)")


def _prov(**env):
    return {"cpu": {"flags": {"avx2": True, "avx512f": True}},
            "env": {"ATEN_CPU_CAPABILITY": None, "MKL_CBWR": None, "XLA_FLAGS": None, **env},
            "torch": {"cpu_capability": "AVX512"}, "numpy": {"blas": {"core": "Zen"}}}


def _names(factors):
    return [f.name for f in factors]


def test_factors_are_what_the_golden_records_otherwise():
    golden = {"threads": {"set": 1}, "provenance": _prov(ATEN_CPU_CAPABILITY="default")}
    here = _prov()
    here["numpy"]["blas"]["core"] = "Haswell"
    factors, untried = factors_of(golden, here, {"RNN_HARNESS_THREADS": "2"})
    assert _names(factors) == ["threads", "ATEN_CPU_CAPABILITY", "OPENBLAS_CORETYPE",
                               "initial weights"]
    assert [f.env for f in factors[:3]] == [{"RNN_HARNESS_THREADS": "1"},
                                            {"ATEN_CPU_CAPABILITY": "default"},
                                            {"OPENBLAS_CORETYPE": "Zen"}]
    assert factors[-1].initial and untried == []


def test_a_variable_this_run_sets_and_the_golden_did_not_is_unset():
    factors, _ = factors_of({"provenance": _prov()}, _prov(), {"MKL_CBWR": "COMPATIBLE"})
    assert factors[0] == Factor("MKL_CBWR", "unset", "COMPATIBLE", {"MKL_CBWR": None})


def test_xla_thread_flags_are_not_a_kernel_factor():
    golden = {"provenance": _prov(XLA_FLAGS="--xla_cpu_multi_thread_eigen=false "
                                  "intra_op_parallelism_threads=1")}
    assert _names(factors_of(golden, _prov(), {})[0]) == ["initial weights"]


def test_a_capability_this_cpu_lacks_is_listed_not_tried():
    golden = {"provenance": _prov()}
    here = _prov()
    here["torch"]["cpu_capability"], here["cpu"]["flags"]["avx512f"] = "AVX2", False
    factors, untried = factors_of(golden, here, {})
    assert _names(factors) == ["initial weights"]
    assert untried == ["torch cpu capability AVX512: this CPU cannot run it"]


def test_a_golden_without_provenance_says_what_can_still_be_tried():
    factors, untried = factors_of({"threads": {"set": 1}}, _prov(), {})
    assert _names(factors) == ["initial weights"]
    assert untried[0].startswith("the golden records no provenance")


def test_explanation_fits_a_screen_and_names_the_cause():
    fail, ok = Replay(False, 5e-3, "first divergent: epoch 3: loss ..."), Replay(True, 0.0, None)
    aten = Factor("ATEN_CPU_CAPABILITY", "default", "unset", {"ATEN_CPU_CAPABILITY": "default"})
    init = Factor("initial weights", "stored", "seeded", initial=True)
    exp = Explanation("elman_sine/torch", "ci", fail, tuple(f"line {i}" for i in range(30)),
                      ((aten, ok), (init, fail)))
    text = explanation_text(exp)
    assert len(text.splitlines()) <= 25
    assert "cause: ATEN_CPU_CAPABILITY alone brings the run back" in text
    assert "ATEN_CPU_CAPABILITY=default" in text
    code = explanation_text(Explanation("elman_sine/torch", "ci", fail, (), ((init, fail),)))
    assert "none of the environment factors: the code changed" in code


def _copy(tmp_path, edits):
    """A copy of reference_impls with ``edits`` ({file: (old, new)}) and the environment
    that runs the harness on it."""
    shutil.copytree(ROOT / "reference_impls", tmp_path / "reference_impls")
    for rel, (old, new) in edits.items():
        target = tmp_path / "reference_impls" / rel
        text = target.read_text()
        assert text.count(old) == 1, f"anchor not found once in {rel}: {old!r}"
        target.write_text(text.replace(old, new))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
            "COLUMNS": "160"}


def _harness(env, tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True)


@pytest.mark.torch
@needs_torch
def test_a_mutated_port_is_classified_as_code(tmp_path):
    env = _copy(tmp_path, {"elman_sine/torch_port.py": ("lr, g1, g2 = self.config.lr,",
                                                        "lr, g1, g2 = self.config.lr * 1.01,")})
    shutil.copytree(ROOT / "golden" / "elman_sine" / "torch" / "ci",
                    tmp_path / "golden" / "elman_sine" / "torch" / "ci")
    result = _harness(env, tmp_path, "explain", "elman_sine/torch", "--golden-dir",
                      str(tmp_path / "golden"))
    assert result.returncode == EXIT_REGRESSION, result.stdout + result.stderr
    text = " ".join(result.stdout.split())
    assert "none of the environment factors: the code changed" in text, result.stdout
    assert "initial weights seeded -> stored: FAIL" in text, result.stdout


@pytest.mark.torch
@needs_torch
def test_a_golden_of_another_cpu_capability_is_classified_by_it(tmp_path):
    # a ci tolerance below ATEN_CPU_CAPABILITY=default's noise (7.3e-7 measured), so that
    # the kernels alone fail the check; the golden is recorded under that variable
    env = _copy(tmp_path, {"elman_sine/spec.py": (
        'PROFILE_TOLERANCES = {"ci": {',
        'PROFILE_TOLERANCES = {"ci": {"default": Tolerance(rtol=1e-9, why="test"),')})
    env.pop("ATEN_CPU_CAPABILITY", None)
    golden = str(tmp_path / "golden")
    recorded = _harness({**env, "ATEN_CPU_CAPABILITY": "default"}, tmp_path, "record",
                        "elman_sine/torch", "--profile", "ci", "--golden-dir", golden)
    assert recorded.returncode == 0, recorded.stderr
    result = _harness(env, tmp_path, "explain", "elman_sine/torch", "--golden-dir", golden)
    assert result.returncode == 0, result.stdout + result.stderr
    text = " ".join(result.stdout.split())
    assert "torch cpu capability: DEFAULT (golden) vs " in text, result.stdout
    assert "cause: ATEN_CPU_CAPABILITY alone brings the run back" in text, result.stdout
