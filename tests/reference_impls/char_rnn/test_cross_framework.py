"""char_rnn across frameworks: the MXNet port started from the torch port's weights.

Same weights, same batches (both ports draw the epoch offsets from ``random.Random(seed)``):
one forward/backward agrees to float32 rounding, and the perplexity trajectory follows the
torch one within ``spec.CROSS_FRAMEWORK`` over the epochs it gates (its ``horizon``), on
the spec's ``cross_config`` (the same model in both frameworks). Scratch weights load into
either framework's concise port (``adapt_params``) and compute the same function there.
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
from harness.interface import Port  # noqa: E402
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


#: d2l's MXNet concise model is a ReLU RNN, torch's a tanh RNN (spec quirk): the spec's
#: cross_config makes them the same model.
SAME_MODEL = spec.SPEC.same_model_config("tutorial")
TOLERANCE = spec.SPEC.cross_framework["perplexity"]
#: The epochs the cross-framework tolerance gates (later ones diverge chaotically, spec.py).
EPOCHS = TOLERANCE.gated(SAME_MODEL.epochs)


def _built(port_id: str, seed: int = 0, config: spec.Config | None = None) -> Port:
    port = default_registry().load(port_id)
    seed_everything(seed)
    port.build(config or replace(SAME_MODEL, epochs=EPOCHS), seed, "cpu")
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
    config = replace(SAME_MODEL, epochs=EPOCHS)
    torch_traj = run_port(f"char_rnn/torch-{variant}", "ci", config=config)
    params = _built(f"char_rnn/torch-{variant}").get_params()
    mx_traj = run_port(f"char_rnn/mxnet-{variant}", "ci", config=config, params=params)
    assert mx_traj.num_epochs == EPOCHS < SAME_MODEL.epochs  # the horizon, not all 500
    np.testing.assert_allclose(mx_traj.metrics["perplexity"], torch_traj.metrics["perplexity"],
                               rtol=TOLERANCE.rtol, atol=TOLERANCE.atol)


def test_cross_framework_check_fails_for_a_one_percent_lr_change(
        corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cross tolerance is tight enough to catch a 1 % learning-rate change."""
    monkeypatch.setenv("RNN_HARNESS_DATA", str(corpus_dir))
    config = replace(SAME_MODEL, epochs=EPOCHS)
    torch_traj = run_port("char_rnn/torch-concise", "ci", config=config)
    params = _built("char_rnn/torch-concise").get_params()
    mx_traj = run_port("char_rnn/mxnet-concise", "ci", params=params,
                       config=replace(config, lr=config.lr * 1.01))
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(mx_traj.metrics["perplexity"],
                                   torch_traj.metrics["perplexity"], rtol=TOLERANCE.rtol,
                                   atol=TOLERANCE.atol)


#: Small sizes (the mapping does not depend on them), both variants the same hidden size.
SMALL = replace(SAME_MODEL, scratch_hiddens=16, concise_hiddens=16, epochs=1)
SCRATCH_TO_CONCISE = pytest.mark.parametrize(
    ("source", "target"),
    [(f"char_rnn/{a}-scratch", f"char_rnn/{b}-concise")
     for a in ("torch", "mxnet") for b in ("torch", "mxnet")],
    ids=lambda p: p.split("/")[1])


@SCRATCH_TO_CONCISE
def test_scratch_weights_load_into_a_concise_port_and_compute_the_same_function(
        source: str, target: str, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """adapt_params: b_xh = b_h, b_hh = 0, in either framework (tanh in both)."""
    monkeypatch.setenv("RNN_HARNESS_DATA", str(corpus_dir))
    scratch = _built(source, config=SMALL)
    rng = np.random.default_rng(3)
    weights = {k: rng.normal(0, 0.5, v.shape).astype(v.dtype)
               for k, v in scratch.get_params().items()}
    scratch.set_params(weights)
    concise = _built(target, seed=1, config=SMALL)
    concise.set_params(weights)
    loaded = concise.get_params()
    assert set(loaded) == set(spec.CONCISE_PARAMS)
    np.testing.assert_array_equal(loaded["b_xh"], weights["b_h"])
    np.testing.assert_array_equal(loaded["b_hh"], np.zeros_like(weights["b_h"]))
    for name in ("W_xh", "W_hh", "W_hq", "b_q"):
        np.testing.assert_array_equal(loaded[name], weights[name], err_msg=name)
    X = rng.integers(0, 28, (3, 7))
    batch = {"X": X, "Y": rng.integers(0, 28, (3, 7))}
    a, b = scratch.forward(batch), concise.forward(batch)
    np.testing.assert_allclose(b["logits"], a["logits"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b["h"], a["h"], rtol=1e-5, atol=1e-6)
    # and back: the concise weights load into the scratch port as b_h = b_xh + b_hh
    scratch.set_params(loaded)
    np.testing.assert_array_equal(scratch.get_params()["b_h"], weights["b_h"])
