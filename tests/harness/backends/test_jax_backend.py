"""The JAX backend: single-threaded XLA, parameter slots, float64 that moves no float32 bit."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("jax", reason="install the jax extra: pip install 'rnn-harness[jax]'")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from harness.backends import jax_backend as jb  # noqa: E402
from harness.errors import DeviceUnavailableError  # noqa: E402
from harness.interface import Param, ParamTable  # noqa: E402

pytestmark = [pytest.mark.jax]


def _child(code: str, xla_flags: str | None = None) -> dict:
    """Run ``code`` in a fresh interpreter (XLA flags and float64 mode are process-wide);
    its last stdout line is JSON."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


_INFO = "print(json.dumps(jb.thread_info()))"


def test_importing_the_backend_makes_xla_single_threaded():
    info = _child("import json; from harness.backends import jax_backend as jb; "
                  f"import jax.numpy as jnp; jnp.ones(2).sum(); {_INFO}")
    assert info["xla_single_threaded"] is True
    assert set(jb.SINGLE_THREAD_FLAGS) <= set(info["xla_flags"].split())


def test_a_process_whose_xla_started_first_is_reported_as_such():
    info = _child("import json, jax.numpy as jnp; jnp.ones(2).sum(); "
                  f"from harness.backends import jax_backend as jb; {_INFO}")
    assert info["xla_single_threaded"] is False


def test_a_users_own_xla_thread_flag_is_kept_and_reported():
    info = _child(f"import json; from harness.backends import jax_backend as jb; {_INFO}",
                  xla_flags="--xla_cpu_multi_thread_eigen=true --xla_dump_to=/dev/null")
    flags = info["xla_flags"].split()
    assert "--xla_cpu_multi_thread_eigen=true" in flags
    assert "--xla_cpu_multi_thread_eigen=false" not in flags
    assert "intra_op_parallelism_threads=1" in flags and "--xla_dump_to=/dev/null" in flags
    assert info["xla_single_threaded"] is False


_SHORT_RUN = """
import json, sys
from dataclasses import replace
from harness.backends import jax_backend as jb
from harness.runner import run_port
from reference_impls.elman_sine import spec
if sys.argv[1] == "allow":
    jb.allow_float64()
t = run_port("elman_sine/jax", "ci", config=replace(spec.PROFILES["ci"], epochs=5))
print(json.dumps({"loss": [x.hex() for x in t.metrics["loss"]], "out": t.outputs}))
"""


def test_allowing_float64_changes_no_float32_bit():
    before = _child(_SHORT_RUN.replace("sys.argv[1]", "'no'"))
    after = _child(_SHORT_RUN.replace("sys.argv[1]", "'allow'"))
    assert before == after


def test_float64_is_kept_only_where_asked():
    jb.allow_float64()
    dev = jb.device("cpu")
    assert jb.tensor(np.ones(2), dev, jnp.float64).dtype == np.float64
    assert jb.tensor(np.ones(2), dev, jnp.float32).dtype == np.float32
    assert jnp.zeros(2).dtype == np.float32


def test_param_table_loads_through_slots_by_rebinding_the_dict():
    table = ParamTable((Param("A", "(1, 2)", {"jax": "w[:1]"}),
                        Param("B", "(2, 2)", {"jax": "w[1:].T"})))
    dev = jb.device("cpu")
    params = {"w": jb.tensor(np.zeros((3, 2)), dev, jnp.float32)}
    old = params["w"]
    a, b = np.array([[1.0, 2.0]]), np.array([[3.0, 4.0], [5.0, 6.0]])
    table.load("jax", jb.slots(params), jb, {"A": a, "B": b}, port="t/jax")
    assert params["w"] is not old and params["w"].dtype == np.float32
    np.testing.assert_array_equal(np.asarray(params["w"]), [[1, 2], [3, 5], [4, 6]])
    read = table.read("jax", jb.slots(params), jb)
    np.testing.assert_array_equal(read["B"], b)


def test_cuda_without_a_gpu_is_a_clear_error():
    if jb.cuda_available():
        pytest.skip("this machine has a GPU visible to JAX")
    with pytest.raises(DeviceUnavailableError, match="no usable CUDA device"):
        jb.device("cuda")


def test_float32_products_are_full_float32_on_every_device():
    # XLA's default lets a GPU compute float32 products in TF32; the harness asks for
    # full float32 (as the torch backend turns TF32 off), and the run's metadata says so.
    assert jax.config.jax_default_matmul_precision == "highest"
    assert jb.thread_info()["matmul_precision"] == "highest"
