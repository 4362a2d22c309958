"""Numerics provenance: what a run records about the kernels that decide its bits, and the
difference lines a failed check prints."""

import copy
import json
import os
import subprocess
import sys

import pytest

from harness.backends import framework_available
from harness.provenance import MAX_LINES, provenance, provenance_diff, provenance_note
from harness.seeding import environment_info


def _meta(**provenance_changes):
    prov = {"cpu": {"model": "AMD EPYC", "flags": {"avx2": True, "avx512f": True}},
            "device": {"kind": "cpu"}, "env": {"ATEN_CPU_CAPABILITY": None, "MKL_CBWR": None},
            "numpy": {"version": "1.23.5", "simd_dispatch": ["AVX2", "AVX512F"],
                      "blas": {"core": "Zen"}},
            "torch": {"cpu_capability": "AVX512"}, "threads": {"set": 1},
            "versions": {"numpy": "1.23.5", "torch": "2.13.0+cpu"}}
    for dotted, value in provenance_changes.items():
        block = prov
        *path, leaf = dotted.split("__")
        for part in path:
            block = block.setdefault(part, {})
        block[leaf] = value
    return {"device": "cpu", "processor": "AMD EPYC", "threads": {"set": 1},
            "versions": copy.deepcopy(prov["versions"]), "provenance": prov}


def test_run_metadata_records_the_kernels_that_decide_the_bits(monkeypatch):
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    prov = environment_info()["provenance"]
    assert prov["env"]["MKL_CBWR"] == "COMPATIBLE"
    assert prov["env"]["ATEN_CPU_CAPABILITY"] == os.environ.get("ATEN_CPU_CAPABILITY")
    assert prov["device"] == {"kind": "cpu"}
    assert prov["numpy"]["version"] and isinstance(prov["numpy"]["simd_dispatch"], list)
    assert prov["threads"]["set"] >= 1
    if os.path.exists("/proc/cpuinfo"):
        assert set(prov["cpu"]["flags"]) >= {"avx2", "avx512f", "fma"}
    json.dumps(prov)  # it goes into meta.json as it is


def test_provenance_reads_no_framework_this_process_has_not_imported():
    code = ("import sys, json; from harness.provenance import provenance; p = provenance(); "
            "print(json.dumps([sorted(p), [m for m in ('torch', 'mxnet', 'jax') "
            "if m in sys.modules]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    blocks, imported = json.loads(out.stdout)
    assert imported == [] and not {"torch", "mxnet", "jax"} & set(blocks)


@pytest.mark.torch
@pytest.mark.skipif(not framework_available("torch"), reason="needs torch (tox -e torch)")
def test_torch_block_names_the_forced_cpu_capability():
    code = ("import json, torch; from harness.provenance import provenance; "
            "print(json.dumps(provenance()['torch']))")
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    block = json.loads(out.stdout)
    assert block["cpu_capability"] == "DEFAULT" and block["blas"] == "mkl"


def test_diff_names_each_factor_with_both_values():
    golden = _meta()
    run = _meta(torch__cpu_capability="AVX2", env__MKL_CBWR="COMPATIBLE",
                cpu__flags__avx512f=False)
    lines = provenance_diff(golden, run)
    assert lines == ["CPU flag avx512f: yes (golden) vs no (this run)",
                     "MKL_CBWR: unset (golden) vs COMPATIBLE (this run)",
                     "torch cpu capability: AVX512 (golden) vs AVX2 (this run)"]
    assert provenance_diff(golden, _meta()) == []


def test_diff_of_sets_says_what_this_run_lacks_and_adds():
    lines = provenance_diff(_meta(), _meta(numpy__simd_dispatch=["AVX2", "AVX512_SKX"]))
    assert lines == ["numpy SIMD (dispatched): this run lacks AVX512F; this run adds AVX512_SKX"]
    # numpy 2 names its targets otherwise: another version is said once, by its version
    other = _meta(numpy__version="2.4.6", numpy__simd_dispatch=["X86_V3", "X86_V4"],
                  versions__numpy="2.4.6")
    assert provenance_diff(_meta(), other) == ["numpy version: 1.23.5 (golden) vs 2.4.6 "
                                               "(this run)"]


def test_diff_skips_what_one_side_does_not_record():
    golden = _meta()
    del golden["provenance"]["threads"]["set"]
    assert provenance_diff(golden, _meta(threads__torch_threads=1)) == []


def test_diff_of_a_golden_without_provenance_compares_what_it_records():
    golden = _meta()
    del golden["provenance"]
    golden["versions"]["torch"] = "2.12.0+cpu"
    lines = provenance_diff(golden, _meta())
    assert lines[0].startswith("the golden records no provenance")
    assert lines[1:] == ["torch version: 2.12.0+cpu (golden) vs 2.13.0+cpu (this run)"]


def test_diff_names_a_block_the_golden_does_not_record_once():
    run = _meta(jax__version="0.10.2", jax__matmul_precision="highest")
    assert provenance_diff(_meta(), run) == [
        "jax: not recorded in the golden (this run: version 0.10.2, matmul_precision highest)"]
    # a backfill marker is bookkeeping, not numerics
    assert provenance_diff(_meta(backfilled="2026-12-07"), _meta()) == []


def test_diff_fits_a_screen():
    run = _meta(env={f"VAR{i}": str(i) for i in range(30)})
    lines = provenance_diff(_meta(env={f"VAR{i}": None for i in range(30)}), run)
    assert len(lines) == MAX_LINES and lines[-1].startswith("... and 19 more")


def test_provenance_passes_threads_and_versions_through():
    prov = provenance({"set": 2, "cpu_count": 8}, {"numpy": "2.0", "rnn-harness": "0.1"})
    assert prov["threads"] == {"set": 2} and prov["versions"] == {"numpy": "2.0"}


def test_failure_note_lists_the_differences_and_the_explain_command():
    assert provenance_note(_meta(), _meta(), "elman_sine/torch") is None
    note = provenance_note(_meta(), _meta(env__MKL_CBWR="COMPATIBLE"), "elman_sine/torch")
    assert note.splitlines()[1] == "    MKL_CBWR: unset (golden) vs COMPATIBLE (this run)"
    assert "`rnn-harness explain elman_sine/torch`" in note
