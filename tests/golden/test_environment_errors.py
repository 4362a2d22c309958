"""Asking for a framework or a device that is not here ends in a clear exit-2 error."""

import importlib.util
import subprocess
import sys

import pytest


def cli(*argv):
    return subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, text=True)


@pytest.mark.parametrize("port_id, module", [("elman_sine/torch", "torch"),
                                             ("elman_sine/mxnet", "mxnet")])
def test_missing_framework_names_the_extra(port_id, module):
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here; this case runs in the other framework's tox env")
    from harness.backends import install_hint

    result = cli("check", port_id, "--profile", "ci")
    assert result.returncode == 2
    # the extra, or where an installed framework rules it out (JAX beside MXNet) its tox env
    assert install_hint(module) in " ".join(result.stderr.split())
    assert "pip install" in install_hint(module) or f"the {module} tox env" in (
        install_hint(module))
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("port_id, module", [
    pytest.param("elman_sine/torch", "torch", marks=pytest.mark.torch),
    pytest.param("elman_sine/mxnet", "mxnet", marks=pytest.mark.mxnet),
])
def test_cuda_where_there_is_none_is_a_clear_error(port_id, module):
    probe = {"torch": "import torch; print(torch.cuda.is_available())",
             "mxnet": "import mxnet; print(mxnet.context.num_gpus() > 0)"}[module]
    has_cuda = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                              text=True).stdout.strip().endswith("True")
    if has_cuda:
        pytest.skip("this machine has CUDA; the error case needs a machine without it")
    result = cli("check", port_id, "--profile", "ci", "--device", "cuda")
    assert result.returncode == 2
    assert "no usable CUDA device" in result.stderr and "Traceback" not in result.stderr
