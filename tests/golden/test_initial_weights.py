"""Each golden's stored initial weights are the ones it was trained from, and they let a
port be checked against another framework's golden without that framework installed."""

import subprocess
import sys

import numpy as np
import pytest

from harness.errors import CorpusError
from harness.registry import default_registry
from harness.runner import start_port, train_started

REGISTRY = default_registry()


def port_params():
    for profile in ("ci", "tutorial"):
        for entry in REGISTRY.entries():
            marks = [getattr(pytest.mark, entry.framework)]
            if profile == "tutorial":
                marks.append(pytest.mark.slow)
            yield pytest.param(entry.port_id, profile, marks=marks,
                               id=f"{entry.port_id.replace('/', '-')}-{profile}")


#: Ports whose test trains from the stored weights end to end (one per framework, the
#: cheapest); the others are checked without training: their stored weights are the seeded
#: ones, and the port, given them, holds them exactly, so the run from them is the seeded
#: run, which test_goldens.py checks against the golden.
TRAINED = {"elman_sine/torch", "elman_sine/mxnet", "elman_sine/jax"}


@pytest.mark.parametrize("port_id, profile", list(port_params()))
def test_the_stored_initial_weights_are_the_seeded_ones_and_load_exactly(port_id, profile,
                                                                         golden_store):
    golden = golden_store.read(port_id, profile)
    stored, meta = golden_store.read_initial(port_id, profile)
    assert meta["exact"], "the port's weights are not float32: the stored copy is rounded"
    seed = golden.meta["seed"]
    try:
        seeded = start_port(port_id, profile, seed=seed).port.get_params()
        loaded = start_port(port_id, profile, seed=seed + 1, params=stored).port.get_params()
    except CorpusError as exc:
        pytest.skip(str(exc))
    assert sorted(seeded) == sorted(stored)
    for name in stored:
        np.testing.assert_array_equal(seeded[name], stored[name], err_msg=f"seeded {name}")
        np.testing.assert_array_equal(loaded[name], stored[name], err_msg=f"loaded {name}")
    if port_id in TRAINED or profile == "tutorial":
        traj = train_started(start_port(port_id, profile, seed=seed, params=stored))
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
