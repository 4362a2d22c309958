"""sin_cos: the MXNet port given the torch port's weights agrees with it (spec.CROSS_FRAMEWORK)."""

import numpy as np
import pytest

pytest.importorskip("torch", reason="install the torch extra: pip install 'rnn-harness[torch]'")
pytest.importorskip("mxnet", reason="install the mxnet extra: pip install 'rnn-harness[mxnet]'")

from harness.registry import default_registry  # noqa: E402
from harness.runner import run_port  # noqa: E402
from harness.seeding import seed_everything  # noqa: E402
from reference_impls.sin_cos import spec  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.mxnet, pytest.mark.cross_framework]

REGISTRY = default_registry()
SPEC = REGISTRY.spec("sin_cos")
CONFIG = SPEC.profile("tutorial")


def _built(port_id: str, seed: int = SPEC.default_seed):
    port = REGISTRY.load(port_id)
    seed_everything(seed)
    port.build(CONFIG, seed, "cpu")
    return port


@pytest.fixture(scope="module")
def torch_init():
    return _built("sin_cos/torch").get_params()


def _batch(seed: int = 0, batch_size: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (batch_size, CONFIG.time_step, CONFIG.input_size)
    return {"x": rng.uniform(-1, 1, shape).astype(np.float32),
            "y": rng.uniform(-1, 1, shape).astype(np.float32),
            "h0": rng.uniform(-1, 1, (1, batch_size, CONFIG.hidden_size)).astype(np.float32)}


def test_params_round_trip_through_both_frameworks(torch_init):
    mx_port = _built("sin_cos/mxnet", seed=SPEC.default_seed + 1)
    assert any(not np.array_equal(v, torch_init[k]) for k, v in mx_port.get_params().items())
    mx_port.set_params(torch_init)
    obtained = mx_port.get_params()
    assert set(obtained) == set(spec.PARAMS.names)
    for name in spec.PARAMS.names:
        np.testing.assert_array_equal(obtained[name], torch_init[name], err_msg=name)


def test_forward_matches_with_the_same_weights(torch_init):
    torch_port, mx_port = _built("sin_cos/torch"), _built("sin_cos/mxnet")
    mx_port.set_params(torch_init)
    batch = _batch()
    for inputs in ({"x": batch["x"]}, {"x": batch["x"], "h0": batch["h0"]}):
        want, got = torch_port.forward(inputs), mx_port.forward(inputs)
        assert got["y"].shape == (3, CONFIG.time_step, 1)
        assert got["h"].shape == (1, 3, CONFIG.hidden_size)
        np.testing.assert_allclose(got["y"], want["y"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["h"], want["h"], rtol=1e-5, atol=1e-6)


def test_loss_and_grads_match_with_the_same_weights(torch_init):
    torch_port, mx_port = _built("sin_cos/torch"), _built("sin_cos/mxnet")
    mx_port.set_params(torch_init)
    loss_t, grads_t = torch_port.loss_and_grads(_batch())
    loss_m, grads_m = mx_port.loss_and_grads(_batch())
    assert loss_m == pytest.approx(loss_t, rel=1e-5)
    for name in spec.PARAMS.names:
        assert grads_m[name].shape == grads_t[name].shape == torch_init[name].shape, name
        np.testing.assert_allclose(grads_m[name], grads_t[name], rtol=1e-4, atol=1e-6,
                                   err_msg=name)


def test_loss_and_grads_leave_the_weights_unchanged(torch_init):
    for port_id in ("sin_cos/torch", "sin_cos/mxnet"):
        port = _built(port_id)
        port.set_params(torch_init)
        port.loss_and_grads(_batch())
        for name, value in port.get_params().items():
            np.testing.assert_array_equal(value, torch_init[name], err_msg=f"{port_id} {name}")


def test_mxnet_follows_the_torch_trajectory_from_torch_weights(torch_init):
    tol = SPEC.cross_framework["default"]
    want = run_port("sin_cos/torch", "tutorial")
    got = run_port("sin_cos/mxnet", "tutorial", params=torch_init)
    assert got.meta["initial_params"] == "transferred"
    assert got.num_epochs == want.num_epochs == CONFIG.epochs
    # step 0 is a forward pass from identical weights: only rounding differs
    assert got.metrics["loss"][0] == pytest.approx(want.metrics["loss"][0], rel=1e-6)
    np.testing.assert_allclose(got.metrics["loss"], want.metrics["loss"],
                               rtol=tol.rtol, atol=tol.atol)
    np.testing.assert_allclose(got.outputs["target"], want.outputs["target"], rtol=0, atol=0)


def test_gluon_adam_adds_eps_before_bias_correction_as_documented():
    """spec.py: MXNet's eps is torch's eps / sqrt(1 - beta2**t); checked on a tiny gradient."""
    import mxnet as mx
    import torch

    lr, b1, b2, eps, grad = CONFIG.lr, CONFIG.beta1, CONFIG.beta2, CONFIG.eps, 1e-7
    weight = mx.nd.zeros((1,))
    opt = mx.optimizer.Adam(learning_rate=lr, beta1=b1, beta2=b2, epsilon=eps)
    opt.update(0, weight, mx.nd.array([grad]), opt.create_state(0, weight))
    w_t = torch.zeros(1, requires_grad=True)
    w_t.grad = torch.tensor([grad])
    torch.optim.Adam([w_t], lr=lr, betas=(b1, b2), eps=eps).step()

    # after one step m = (1-b1) g and v = (1-b2) g^2
    m, v = (1 - b1) * grad, (1 - b2) * grad**2
    mxnet_formula = -lr * (1 - b2) ** 0.5 / (1 - b1) * m / (v**0.5 + eps)
    torch_formula = -lr / (1 - b1) * m / (v**0.5 / (1 - b2) ** 0.5 + eps)
    assert weight.asscalar() == pytest.approx(mxnet_formula, rel=1e-5)
    assert w_t.item() == pytest.approx(torch_formula, rel=1e-5)
    assert abs(mxnet_formula - torch_formula) > 0.5 * abs(torch_formula)
