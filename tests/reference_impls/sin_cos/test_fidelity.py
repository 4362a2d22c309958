"""sin_cos/torch against the article's own (modernised) code: equal bit for bit."""

import numpy as np
import pytest

pytest.importorskip("torch", reason="install the torch extra: pip install 'rnn-harness[torch]'")

from harness.registry import default_registry  # noqa: E402
from harness.runner import run_port  # noqa: E402
from tests.oracles import sin_cos_original  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.fidelity]

SPEC = default_registry().spec("sin_cos")


@pytest.fixture(scope="module")
def oracle():
    return sin_cos_original.run(seed=SPEC.default_seed, n_steps=SPEC.profile("tutorial").epochs)


@pytest.fixture(scope="module")
def tutorial_run():
    return run_port("sin_cos/torch", "tutorial")


def test_torch_port_losses_equal_the_article_code_bit_for_bit(oracle, tutorial_run):
    losses, _ = oracle
    obtained = tutorial_run.metrics["loss"]
    assert len(obtained) == len(losses) == 60
    np.testing.assert_array_equal(obtained, np.array(losses, dtype=np.float64))


def test_torch_port_last_plot_equals_the_article_code_bit_for_bit(oracle, tutorial_run):
    _, (steps, target, prediction) = oracle
    assert tutorial_run.outputs == {"t": steps, "target": target, "prediction": prediction}


def test_ci_profile_is_a_prefix_of_the_tutorial_run(tutorial_run):
    ci = run_port("sin_cos/torch", "ci")
    n = SPEC.profile("ci").epochs
    assert 0 < n < tutorial_run.num_epochs
    np.testing.assert_array_equal(ci.metrics["loss"], tutorial_run.metrics["loss"][:n])


def test_spec_data_is_the_article_windows():
    """Each window: float32 linspace over [k*pi, (k+1)*pi] with the endpoint, sin in, cos out."""
    from reference_impls.sin_cos import spec

    config = SPEC.profile("tutorial")
    windows = spec.make_data(config)
    assert len(windows) == config.epochs
    last = windows[-1]
    assert last["t"].dtype == np.float32 and last["x"].shape == (1, config.time_step, 1)
    assert last["t"][0] == np.float32((config.epochs - 1) * np.pi)
    assert last["t"][-1] == np.float32(config.epochs * np.pi)  # endpoint kept
    np.testing.assert_array_equal(windows[1]["t"][0], windows[0]["t"][-1])  # windows overlap
    np.testing.assert_allclose(last["y"].ravel(), np.cos(last["t"].astype(np.float64)),
                               atol=1e-6)
