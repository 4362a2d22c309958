"""elman_sine/torch equals the article's own (modernised) code bit for bit."""

import numpy as np
import pytest

pytest.importorskip("torch", reason="install the torch extra: pip install 'rnn-harness[torch]'")

from harness.runner import run_port  # noqa: E402
from reference_impls.elman_sine import spec  # noqa: E402
from tests.oracles.elman_sine_original import run as original  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.fidelity]


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_torch_port_equals_the_article_bit_for_bit(seed):
    epochs = spec.TUTORIAL.epochs
    losses, predictions = original(seed=seed, epochs=epochs)
    traj = run_port("elman_sine/torch", "tutorial", seed=seed)
    np.testing.assert_array_equal(traj.metrics["loss"], np.array(losses, dtype=np.float64))
    np.testing.assert_array_equal(traj.outputs["predictions"],
                                  np.array(predictions, dtype=np.float64))


def test_oracle_comparison_can_fail():
    """A 1 % lr change is visible against the oracle (the equality above is not vacuous)."""
    from dataclasses import replace

    losses, _ = original(seed=0, epochs=5)
    traj = run_port("elman_sine/torch", "ci", config=replace(spec.TUTORIAL, epochs=5, lr=0.101))
    assert not np.array_equal(traj.metrics["loss"], np.array(losses))
