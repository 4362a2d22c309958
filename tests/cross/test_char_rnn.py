"""char_rnn across frameworks: the MXNet port started from the torch port's weights.

Same weights, same batches (both ports draw the epoch offsets from ``random.Random(seed)``):
one forward/backward agrees to float32 rounding, and the perplexity trajectory follows the
torch one within ``spec.CROSS_FRAMEWORK`` over the first ``spec.CROSS_EPOCHS`` epochs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="install the torch extra: pip install 'rnn-harness[torch]'")
pytest.importorskip("mxnet", reason="install the mxnet extra: pip install 'rnn-harness[mxnet]'")

from harness.corpus import find_corpus  # noqa: E402
from harness.errors import CorpusError  # noqa: E402
from harness.registry import default_registry  # noqa: E402
from harness.runner import run_port  # noqa: E402
from harness.seeding import seed_everything  # noqa: E402
from reference_impls.char_rnn import spec  # noqa: E402

pytestmark = [pytest.mark.cross_framework, pytest.mark.torch, pytest.mark.mxnet]

VARIANTS = pytest.mark.parametrize("variant", ["scratch", "concise"],
                                   ids=["char_rnn-scratch", "char_rnn-concise"])


@pytest.fixture(scope="module")
def corpus_dir() -> Path:
    try:
        return find_corpus(download=False).parent
    except CorpusError as err:
        pytest.skip(str(err))


#: d2l's MXNet concise model is a ReLU RNN, torch's a tanh RNN (spec quirk): compare the
#: same model by switching the MXNet one to tanh.
SAME_MODEL = replace(spec.TUTORIAL, mxnet_concise_activation="tanh")


def _built(port_id: str, seed: int = 0):  # type: ignore[no-untyped-def]
    port = default_registry().load(port_id)
    seed_everything(seed)
    port.build(replace(SAME_MODEL, epochs=spec.CROSS_EPOCHS), seed, "cpu")
    return port


@VARIANTS
def test_same_weights_give_the_same_logits_loss_and_grads(
        variant: str, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNN_HARNESS_DATA", str(corpus_dir))
    torch_port = _built(f"char_rnn/torch-{variant}")
    mx_port = _built(f"char_rnn/mxnet-{variant}", seed=1)
    params = torch_port.get_params()
    mx_port.set_params(params)
    for name, value in mx_port.get_params().items():
        np.testing.assert_array_equal(value, params[name], err_msg=name)
    corpus, _ = spec.load_corpus(SAME_MODEL, Path(corpus_dir) / "timemachine.txt")
    X, Y = np.asarray(corpus[:70]).reshape(2, 35), np.asarray(corpus[1:71]).reshape(2, 35)
    rng = np.random.default_rng(0)
    h0 = rng.uniform(-0.5, 0.5, (2, spec.TUTORIAL.hiddens(variant))).astype(np.float32)
    batch = {"X": X, "Y": Y, "h0": h0}
    out_t, out_m = torch_port.forward(batch), mx_port.forward(batch)
    np.testing.assert_allclose(out_m["logits"], out_t["logits"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out_m["h"], out_t["h"], rtol=1e-4, atol=1e-6)
    loss_t, grads_t = torch_port.loss_and_grads(batch)
    loss_m, grads_m = mx_port.loss_and_grads(batch)
    assert loss_m == pytest.approx(loss_t, rel=1e-6)
    for name, grad in grads_t.items():
        scale = float(np.abs(grad).max())
        np.testing.assert_allclose(grads_m[name], grad, rtol=0, atol=1e-4 * scale + 1e-9,
                                   err_msg=name)


@VARIANTS
def test_mxnet_from_torch_weights_follows_torch_perplexity(
        variant: str, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNN_HARNESS_DATA", str(corpus_dir))
    config = replace(SAME_MODEL, epochs=spec.CROSS_EPOCHS)
    torch_traj = run_port(f"char_rnn/torch-{variant}", "ci", config=config)
    params = _built(f"char_rnn/torch-{variant}").get_params()
    mx_traj = run_port(f"char_rnn/mxnet-{variant}", "ci", config=config, params=params)
    tol = spec.SPEC.cross_framework["perplexity"]
    np.testing.assert_allclose(mx_traj.metrics["perplexity"], torch_traj.metrics["perplexity"],
                               rtol=tol.rtol, atol=tol.atol)


def test_cross_framework_check_fails_for_a_one_percent_lr_change(
        corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cross tolerance is tight enough to catch a 1 % learning-rate change."""
    monkeypatch.setenv("RNN_HARNESS_DATA", str(corpus_dir))
    config = replace(SAME_MODEL, epochs=spec.CROSS_EPOCHS)
    torch_traj = run_port("char_rnn/torch-concise", "ci", config=config)
    params = _built("char_rnn/torch-concise").get_params()
    mx_traj = run_port("char_rnn/mxnet-concise", "ci", params=params,
                       config=replace(config, lr=config.lr * 1.01))
    tol = spec.SPEC.cross_framework["perplexity"]
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(mx_traj.metrics["perplexity"],
                                   torch_traj.metrics["perplexity"], rtol=tol.rtol, atol=tol.atol)
