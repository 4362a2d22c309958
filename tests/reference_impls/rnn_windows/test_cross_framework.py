"""rnn_windows: the MXNet ports loaded with the torch ports' initial weights follow them."""

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("torch", reason="install the torch extra: pip install 'rnn-harness[torch]'")
pytest.importorskip("mxnet", reason="install the mxnet extra: pip install 'rnn-harness[mxnet]'")

from harness.compare import compare_trajectories  # noqa: E402
from harness.registry import default_registry  # noqa: E402
from harness.runner import run_port  # noqa: E402
from reference_impls.rnn_windows import spec  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.mxnet, pytest.mark.cross_framework]

VARIANTS = ["", "-last"]


def built(port_id, seed=0, profile="ci"):
    port = default_registry().load(port_id)
    port.build(spec.PROFILES[profile], seed, "cpu")
    return port


def torch_initial_params(variant, seed=0):
    return built(f"rnn_windows/torch{variant}", seed).get_params()


def one_window(index=0, with_h0=False):
    data = spec.make_data(spec.TUTORIAL)
    batch = {"x": data["x"][index:index + 1], "y": data["y"][index]}  # (1, 5, 1), (1,)
    if with_h0:
        batch["h0"] = np.linspace(-0.5, 0.5, spec.TUTORIAL.hidden_size,
                                  dtype=np.float32).reshape(1, 1, -1)
    return batch


@pytest.mark.parametrize("variant", VARIANTS, ids=["rnn_windows", "rnn_windows-last"])
def test_mxnet_follows_torch_from_the_same_weights(variant):
    params = torch_initial_params(variant)
    a = run_port(f"rnn_windows/torch{variant}", "ci")
    b = run_port(f"rnn_windows/mxnet{variant}", "ci", params=params)
    comp = compare_trajectories(b, a, spec.SPEC.metrics, spec.CROSS_FRAMEWORK)
    assert comp.passed, f"max rel {comp.max_rel_error:.3g} at epoch {comp.first_divergent_epoch}"


def test_cross_tolerance_catches_a_one_percent_lr_change():
    params = torch_initial_params("")
    config = replace(spec.PROFILES["ci"], epochs=2)
    a = run_port("rnn_windows/torch", "ci", config=config)
    b = run_port("rnn_windows/mxnet", "ci", params=params, config=replace(config, lr=0.0101))
    assert not compare_trajectories(b, a, spec.SPEC.metrics, spec.CROSS_FRAMEWORK).passed


def test_different_weights_are_told_apart():
    """Without the weight transfer (MXNet draws its own) the trajectories differ."""
    config = replace(spec.PROFILES["ci"], epochs=2)
    a = run_port("rnn_windows/torch", "ci", config=config)
    b = run_port("rnn_windows/mxnet", "ci", config=config)
    assert not compare_trajectories(b, a, spec.SPEC.metrics, spec.CROSS_FRAMEWORK).passed


def test_params_round_trip_between_frameworks():
    params = torch_initial_params("")
    assert set(params) == set(spec.PARAMS.names)
    port = built("rnn_windows/mxnet", seed=5)
    port.set_params(params)
    for name, value in port.get_params().items():
        np.testing.assert_array_equal(value, params[name])


@pytest.mark.parametrize("variant", VARIANTS, ids=["rnn_windows", "rnn_windows-last"])
@pytest.mark.parametrize("with_h0", [False, True], ids=["zero-h0", "given-h0"])
def test_one_window_loss_and_grads_agree(variant, with_h0):
    params = torch_initial_params(variant)
    t, m = built(f"rnn_windows/torch{variant}"), built(f"rnn_windows/mxnet{variant}", seed=3)
    m.set_params(params)
    batch = one_window(10, with_h0)
    loss_t, grads_t = t.loss_and_grads(batch)
    loss_m, grads_m = m.loss_and_grads(batch)
    assert loss_m == pytest.approx(loss_t, rel=1e-5)
    assert set(grads_t) == set(grads_m) == set(spec.PARAMS.names)
    for name in spec.PARAMS.names:
        assert grads_m[name].shape == params[name].shape
        np.testing.assert_allclose(grads_m[name], grads_t[name], rtol=1e-4, atol=1e-7)
    assert np.any(grads_t["W_hh"] != 0)


def test_forward_agrees_for_a_batch_of_windows():
    params = torch_initial_params("")
    t, m = built("rnn_windows/torch"), built("rnn_windows/mxnet", seed=3)
    m.set_params(params)
    x = spec.make_data(spec.TUTORIAL)["x"][:4]  # (4, 5, 1)
    out_t, out_m = t.forward({"x": x}), m.forward({"x": x})
    assert out_t["y"].shape == out_m["y"].shape == (4 * 5, 1)
    assert out_t["h"].shape == out_m["h"].shape == (1, 4, spec.TUTORIAL.hidden_size)
    np.testing.assert_allclose(out_m["y"], out_t["y"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out_m["h"], out_t["h"], rtol=1e-5, atol=1e-6)


def test_a_lone_b_h_loads_as_the_sum_of_both_biases():
    params = torch_initial_params("")
    folded = {k: v for k, v in params.items() if k not in ("b_xh", "b_hh")}
    folded["b_h"] = params["b_xh"] + params["b_hh"]
    t, m = built("rnn_windows/torch"), built("rnn_windows/mxnet")
    t.set_params(params)
    m.set_params(folded)
    x = spec.make_data(spec.TUTORIAL)["x"][:2]
    np.testing.assert_allclose(m.forward({"x": x})["y"], t.forward({"x": x})["y"], atol=1e-6)
