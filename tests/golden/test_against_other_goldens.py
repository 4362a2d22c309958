"""Every JAX port passes a check against its torch and MXNet twins' goldens, in this
environment where MXNet cannot be installed (numpy 2): the run starts from the golden's
stored initial weights and is compared under the spec's cross-framework tolerance over the
epochs it gates (``rnn-harness check PORT --against OTHER``), with MXNet imports refused.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.pytest_plugin import require_data
from harness.registry import default_registry
from tests.golden.test_initial_weights import WITHOUT_MXNET

pytest.importorskip("jax", reason="install the jax extra: pip install 'rnn-harness[jax]'")

pytestmark = [pytest.mark.jax, pytest.mark.cross_framework]

REGISTRY = default_registry()
ROOT = Path(__file__).resolve().parents[2]

#: d2l's MXNet concise model is a ReLU RNN (spec quirk) and its golden was trained as one;
#: the JAX port is tanh (the PyTorch tab), so that golden is of another model.
NOT_THE_SAME_MODEL = {"char_rnn/mxnet-concise"}


def _pairs():
    for entry in REGISTRY.entries():
        if entry.framework != "jax":
            continue
        for framework in ("torch", "mxnet"):
            other = entry.port_id.replace("/jax", f"/{framework}", 1)
            if other in REGISTRY.ids() and other not in NOT_THE_SAME_MODEL:
                yield entry.port_id, other


CASES = [pytest.param(a, b, "ci", id=f"{a}-vs-{b}".replace("/", "-")) for a, b in _pairs()]
CASES.append(pytest.param("char_rnn/jax-scratch", "char_rnn/mxnet-scratch", "tutorial",
                          marks=pytest.mark.slow, id="char_rnn-jax-scratch-vs-mxnet-tutorial"))


def _check_against(port_id: str, other: str, profile: str, *extra: str
                   ) -> subprocess.CompletedProcess:
    argv = ["check", port_id, "--against", other, "--profile", profile, *extra]
    return subprocess.run([sys.executable, "-c", WITHOUT_MXNET, *argv], capture_output=True,
                          text=True)


@pytest.mark.parametrize(("port_id", "other", "profile"), CASES)
def test_jax_port_passes_against_the_other_frameworks_golden(port_id, other, profile):
    require_data(port_id, profile)  # char_rnn without its corpus: skip naming the fix
    result = _check_against(port_id, other, profile)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pass" in result.stdout and f"against {other}" in result.stdout


def test_another_models_golden_is_told_apart(tmp_path):
    """The check can fail: the MXNet concise golden is a ReLU model, the JAX port tanh.
    (On a copy of the goldens: a failed check writes its obtained files beside them.)"""
    require_data("char_rnn/jax-concise")  # without the corpus: skip naming the fix
    shutil.copytree(ROOT / "golden" / "char_rnn", tmp_path / "char_rnn")
    result = _check_against("char_rnn/jax-concise", "char_rnn/mxnet-concise", "ci",
                            "--golden-dir", str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
