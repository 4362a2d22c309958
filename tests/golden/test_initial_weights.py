"""Each golden's stored initial weights are the ones it was trained from, and they let a
port be checked against another framework's golden without that framework installed."""

import subprocess
import sys

import numpy as np
import pytest

from harness.errors import CorpusError
from harness.registry import default_registry
from harness.runner import run_port

REGISTRY = default_registry()


def port_params():
    for profile in ("ci", "tutorial"):
        for entry in REGISTRY.entries():
            marks = [getattr(pytest.mark, entry.framework)]
            if profile == "tutorial":
                marks.append(pytest.mark.slow)
            yield pytest.param(entry.port_id, profile, marks=marks,
                               id=f"{entry.port_id.replace('/', '-')}-{profile}")


@pytest.mark.parametrize("port_id, profile", list(port_params()))
def test_training_from_the_stored_initial_weights_reproduces_the_golden(port_id, profile,
                                                                         golden_store):
    golden = golden_store.read(port_id, profile)
    params, meta = golden_store.read_initial(port_id, profile)
    assert meta["exact"], "the port's weights are not float32: the stored copy is rounded"
    try:
        traj = run_port(port_id, profile, seed=golden.meta["seed"], params=params)
    except CorpusError as exc:
        pytest.skip(str(exc))
    for metric, values in golden.metrics.items():
        np.testing.assert_array_equal(traj.metrics[metric], values, err_msg=metric)


#: Runs the CLI with every MXNet import refused: the check must not need the other framework.
WITHOUT_MXNET = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] == 'mxnet':
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
from harness.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.torch
@pytest.mark.parametrize("profile", ["ci", pytest.param("tutorial", marks=pytest.mark.slow)])
def test_torch_port_passes_against_the_mxnet_golden_without_mxnet(profile):
    argv = ["check", "elman_sine/torch", "--against", "elman_sine/mxnet", "--profile", profile]
    result = subprocess.run([sys.executable, "-c", WITHOUT_MXNET, *argv], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pass" in result.stdout and "against elman_sine/mxnet" in result.stdout
