"""rnn_windows/torch (and -last) equal the article's own (modernised) code bit for bit."""

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("torch", reason="install the torch extra: pip install 'rnn-harness[torch]'")

from harness.runner import run_port  # noqa: E402
from reference_impls.rnn_windows import spec  # noqa: E402
from tests.oracles.rnn_windows_original import run as original  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.fidelity]

CI_EPOCHS = spec.PROFILES["ci"].epochs


@pytest.fixture(scope="module")
def article_run():
    """The oracle's full seed-0 run (about 4 s on a 2-core CPU)."""
    return original(seed=0, epochs=spec.TUTORIAL.epochs)


def assert_same_run(traj, losses, predictions):
    np.testing.assert_array_equal(traj.metrics["loss"], np.array(losses, dtype=np.float64))
    np.testing.assert_array_equal(traj.outputs["predictions"],
                                  np.array(predictions, dtype=np.float64))


def test_torch_port_equals_the_article_bit_for_bit(article_run):
    assert_same_run(run_port("rnn_windows/torch", "tutorial"), *article_run)


def test_article_run_does_not_converge_as_the_issue_reports(article_run):
    """Evidence the oracle is the article: 0.45 at first, then climbing past 10, no descent.

    On this machine it passes 10 at epoch 13 and stays within 2.6..11.7 from epoch 15, as
    the issue says; the run is chaotic (a 1-ulp nudge moves the climb to epoch 31), so only
    the machine-independent shape is asserted here. Bit equality is asserted above.
    """
    losses = np.array(article_run[0])
    assert losses[0] == pytest.approx(0.45, abs=0.01)
    assert losses.max() > 10
    assert np.median(losses[15:]) > 4 * losses[0]


@pytest.mark.parametrize("seed", [1, 7])
def test_torch_port_equals_the_article_for_other_seeds(seed):
    losses, predictions = original(seed=seed, epochs=CI_EPOCHS)
    assert_same_run(run_port("rnn_windows/torch", "ci", seed=seed), losses, predictions)


def test_last_variant_equals_the_article_with_last_step_loss():
    losses, predictions = original(seed=0, epochs=CI_EPOCHS, last_step_only=True)
    assert_same_run(run_port("rnn_windows/torch-last", "ci"), losses, predictions)


@pytest.mark.slow
def test_last_variant_equals_the_article_over_the_full_run():
    losses, predictions = original(seed=0, epochs=spec.TUTORIAL.epochs, last_step_only=True)
    assert_same_run(run_port("rnn_windows/torch-last", "tutorial"), losses, predictions)


def test_oracle_comparison_can_fail():
    """A 1 % lr change is visible against the oracle (the equality above is not vacuous)."""
    losses, _ = original(seed=0, epochs=2)
    config = replace(spec.TUTORIAL, epochs=2, lr=spec.TUTORIAL.lr * 1.01)
    traj = run_port("rnn_windows/torch", "ci", config=config)
    assert not np.array_equal(traj.metrics["loss"], np.array(losses))


def test_last_variant_differs_from_the_article_loss(article_run):
    traj = run_port("rnn_windows/torch-last", "ci", config=replace(spec.TUTORIAL, epochs=1))
    assert traj.metrics["loss"][0] != article_run[0][0]


def test_only_the_broadcast_warning_is_silenced():
    """The article's (5, 1)-vs-(1,) loss warns in PyTorch 2; the port silences just that."""
    import warnings

    import torch

    from reference_impls.rnn_windows.torch_port import _broadcast_target_allowed

    output, target = torch.arange(5.0).reshape(5, 1), torch.tensor([1.0])
    with pytest.warns(UserWarning, match="Using a target size"):
        expected = torch.nn.functional.mse_loss(output, target)
    with _broadcast_target_allowed():
        loss = torch.nn.MSELoss()(output, target)
        with pytest.warns(UserWarning, match="unrelated"):
            warnings.warn("unrelated", UserWarning, stacklevel=1)
    assert loss.item() == expected.item() == ((output - 1.0) ** 2).mean().item()
