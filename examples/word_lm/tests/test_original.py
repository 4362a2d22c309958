"""The port equals the training script it came from (original.py) bit for bit: every
epoch's training and validation loss, the annealed learning rate, and the best model's
test loss."""

import contextlib
import io
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="install the torch extra: pip install 'rnn-harness[torch]'")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # original.py beside tests/

import original  # noqa: E402

from harness.runner import run_port  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.fidelity]


def test_the_port_reproduces_original_py_bit_for_bit(harness_registry):
    # the tutorial profile is the script's defaults: 16 epochs, two annealings
    trajectory = run_port("word_lm/torch", "tutorial", registry=harness_registry)
    with contextlib.redirect_stdout(io.StringIO()):  # the script's progress lines
        ref = original.main([])
    for name in ("train_loss", "val_loss", "lr"):
        assert [float(v) for v in trajectory.metrics[name]] == \
            [e[name] for e in ref["epochs"]], name
    assert trajectory.outputs == {"test_loss": ref["test_loss"],
                                  "best_val_loss": ref["best_val_loss"]}
