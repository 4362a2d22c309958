"""elman_sine: the MXNet port loaded with the torch port's initial weights follows it."""

import numpy as np
import pytest

pytest.importorskip("torch", reason="install the torch extra: pip install 'rnn-harness[torch]'")
pytest.importorskip("mxnet", reason="install the mxnet extra: pip install 'rnn-harness[mxnet]'")

from harness.compare import compare_trajectories  # noqa: E402
from harness.registry import default_registry  # noqa: E402
from harness.runner import run_port  # noqa: E402
from reference_impls.elman_sine import spec  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.mxnet, pytest.mark.cross_framework]


def torch_initial_params(profile, seed=0):
    port = default_registry().load("elman_sine/torch")
    port.build(spec.PROFILES[profile], seed, "cpu")
    return port.get_params()


@pytest.mark.parametrize("profile", ["ci", "tutorial"])
def test_mxnet_follows_torch_from_the_same_weights(profile):
    params = torch_initial_params(profile)
    a = run_port("elman_sine/torch", profile)
    b = run_port("elman_sine/mxnet", profile, params=params)
    comp = compare_trajectories(b, a, spec.SPEC.metrics, spec.CROSS_FRAMEWORK)
    assert comp.passed, f"max rel {comp.max_rel_error:.3g} at epoch {comp.first_divergent_epoch}"
    np.testing.assert_allclose(b.outputs["predictions"], a.outputs["predictions"], atol=1e-4)


def test_params_round_trip_between_frameworks():
    params = torch_initial_params("ci")
    port = default_registry().load("elman_sine/mxnet")
    port.build(spec.PROFILES["ci"], 5, "cpu")
    port.set_params(params)
    for name, value in port.get_params().items():
        np.testing.assert_array_equal(value, params[name])


def test_different_weights_are_told_apart():
    """Without the weight transfer the trajectories differ beyond tolerance."""
    a = run_port("elman_sine/torch", "ci")
    b = run_port("elman_sine/mxnet", "ci")
    assert not compare_trajectories(b, a, spec.SPEC.metrics, spec.CROSS_FRAMEWORK).passed
