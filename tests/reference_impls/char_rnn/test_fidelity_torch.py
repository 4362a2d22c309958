"""The char_rnn torch ports equal d2l 0.17.6's own PyTorch chapter-8 code bit for bit."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="install the torch extra: pip install 'rnn-harness[torch]'")

import torch  # noqa: E402

from harness.registry import default_registry  # noqa: E402
from reference_impls.char_rnn import spec  # noqa: E402

pytestmark = [
    pytest.mark.torch,
    pytest.mark.fidelity,
    # d2l's Accumulator calls float() on the loss while it still requires grad (d2l's code,
    # kept as it is in the oracle); the port detaches first.
    pytest.mark.filterwarnings(
        "ignore:Converting a tensor with requires_grad=True to a scalar:UserWarning"),
]

#: The registered ports: each adapter run by spec.Schedule (harness.interface.SpecPort).
PORTS = {v: f"char_rnn/torch-{v}" for v in spec.VARIANTS}
SEED = spec.SPEC.default_seed
#: Up to d2l's first logged epoch, so the logged continuation is compared too.
CONFIG = replace(spec.PROFILES["ci"], epochs=spec.PROFILES["ci"].log_every)


def _built(variant: str, config: spec.Config = CONFIG) -> Any:
    port = default_registry().load(PORTS[variant])
    port.build(config, SEED, "cpu")
    return port


def _d2l_tensors(net: Any) -> dict[str, torch.Tensor]:
    """d2l's model tensors under the canonical names, in torch's own layout."""
    if isinstance(net, torch.nn.Module):
        named = dict(net.named_parameters())
        return {"W_xh": named["rnn.weight_ih_l0"], "W_hh": named["rnn.weight_hh_l0"],
                "b_xh": named["rnn.bias_ih_l0"], "b_hh": named["rnn.bias_hh_l0"],
                "W_hq": named["linear.weight"], "b_q": named["linear.bias"]}
    return dict(zip(spec.SCRATCH_PARAMS, net.params, strict=True))


def _as_canonical(net: Any, tensors: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """x @ W arrays: nn.RNN / nn.Linear store their weights as (out, in), scratch as (in, out)."""
    layered = isinstance(net, torch.nn.Module)
    return {k: (t.T if layered and k in ("W_xh", "W_hh", "W_hq") else t).detach().numpy()
            for k, t in tensors.items()}


def _d2l_canonical(net: Any) -> dict[str, np.ndarray]:
    """d2l's weights under canonical names, mapped independently of the port's mapping."""
    return _as_canonical(net, _d2l_tensors(net))


def _assert_bitwise(obtained: list[float], expected: list[float], what: str) -> None:
    __tracebackhide__ = True
    pairs = list(zip(obtained, expected, strict=False))  # lengths are checked below
    diverged = [i for i, (a, b) in enumerate(pairs) if a != b]
    if len(obtained) != len(expected) or diverged:
        first = diverged[0] if diverged else min(len(obtained), len(expected))
        rows = "\n".join(f"  epoch {i}: port {a!r}  d2l {b!r}"
                         for i, (a, b) in enumerate(pairs))
        pytest.fail(f"{what} differs from d2l from epoch {first} on "
                    f"({len(obtained)} vs {len(expected)} epochs):\n{rows}")


def _assert_params_equal(obtained: dict[str, np.ndarray], expected: dict[str, np.ndarray]
                         ) -> None:
    __tracebackhide__ = True
    assert sorted(obtained) == sorted(expected)
    differ = {k: float(np.max(np.abs(obtained[k] - expected[k]))) for k in expected
              if obtained[k].shape != expected[k].shape
              or not np.array_equal(obtained[k], expected[k])}
    assert not differ, f"parameters differ from d2l's (max abs diff): {differ}"


@pytest.fixture(scope="module", params=sorted(PORTS), ids=lambda v: f"char_rnn-torch-{v}")
def trained(request: Any, d2l_torch_oracle: Any, corpus_path: Any) -> dict[str, Any]:
    """Port and d2l, both trained for CONFIG.epochs epochs from the same seed."""
    variant = request.param
    ppls, logged, final, net = d2l_torch_oracle.run(
        variant, corpus_path, seed=SEED, num_epochs=CONFIG.epochs)
    port = _built(variant)
    port_ppls = [r.metrics["perplexity"] for r in port.train()]
    return {"variant": variant, "port": port, "port_ppls": port_ppls, "ppls": ppls,
            "logged": logged, "final": final, "net": net}


def test_port_perplexity_equals_d2l_bit_for_bit(trained: dict[str, Any]) -> None:
    _assert_bitwise(trained["port_ppls"], trained["ppls"], "per-epoch perplexity")


def test_port_continuations_equal_d2l(trained: dict[str, Any]) -> None:
    outputs = trained["port"].outputs()
    assert outputs["predictions"] == trained["final"]
    logged = {int(epoch): texts["time traveller"] for epoch, texts in outputs["logged"].items()}
    assert logged == trained["logged"]


def test_port_trained_weights_equal_d2l(trained: dict[str, Any]) -> None:
    _assert_params_equal(trained["port"].get_params(), _d2l_canonical(trained["net"]))


@pytest.mark.parametrize("variant", sorted(PORTS))
def test_port_draws_d2l_initial_weights(variant: str, d2l_torch_oracle: Any,
                                        corpus_path: Any) -> None:
    _, _, net, _ = d2l_torch_oracle.prepare(variant, corpus_path, SEED)
    _assert_params_equal(_built(variant).get_params(), _d2l_canonical(net))


@pytest.mark.parametrize("variant", sorted(PORTS))
def test_forward_and_loss_and_grads_equal_d2l_model(variant: str, d2l_torch_oracle: Any,
                                                    corpus_path: Any) -> None:
    train_iter, _, net, device = d2l_torch_oracle.prepare(variant, corpus_path, SEED)
    port = _built(variant)
    X, Y = next(iter(train_iter))  # d2l's first minibatch of an epoch, (B, T) each
    y_hat, state = net(X, net.begin_state(batch_size=X.shape[0], device=device))
    loss = torch.nn.CrossEntropyLoss()(y_hat, Y.T.reshape(-1)).mean()
    loss.backward()
    h = state[0]  # scratch: a 1-tuple of (B, H); concise: (1, B, H)
    batch = {"X": X.numpy(), "Y": Y.numpy()}
    out = port.forward(batch)
    assert np.array_equal(out["logits"], y_hat.detach().numpy())
    assert np.array_equal(out["h"], h.detach().numpy())
    port_loss, grads = port.loss_and_grads(batch)
    assert port_loss == float(loss.detach())
    d2l_grads = {k: t.grad for k, t in _d2l_tensors(net).items()}
    _assert_params_equal(grads, _as_canonical(net, d2l_grads))  # type: ignore[arg-type]
    _assert_params_equal(port.get_params(), _d2l_canonical(net))  # nothing was updated


def test_bitwise_check_catches_a_one_ulp_weight_change(trained: dict[str, Any]) -> None:
    """The comparison above is sharp: 1 ulp on every initial weight shows within 3 epochs."""
    port = _built(trained["variant"], replace(CONFIG, epochs=3))
    port.set_params({k: np.nextafter(v, np.inf) for k, v in port.get_params().items()})
    nudged = [r.metrics["perplexity"] for r in port.train()]
    assert nudged != trained["ppls"][:3]
    assert nudged == pytest.approx(trained["ppls"][:3], rel=1e-3)


def test_d2l_train_ch8_is_train_epoch_ch8_per_epoch(trained: dict[str, Any],
                                                    d2l_torch_oracle: Any,
                                                    corpus_path: Any) -> None:
    """What the port copies (train_epoch_ch8 per epoch) is what d2l's train_ch8 computes."""
    pytest.importorskip("matplotlib").use("Agg")  # train_ch8 draws an Animator
    epochs = CONFIG.epochs
    ppls, lines = d2l_torch_oracle.run_train_ch8(trained["variant"], corpus_path, SEED, epochs)
    _assert_bitwise(ppls, trained["ppls"], "train_ch8's perplexity")
    final = trained["final"]
    assert lines[0] == trained["logged"][epochs]  # printed at the logged epoch
    assert lines[-3].startswith(f"perplexity {trained['ppls'][-1]:.1f}, ")
    assert lines[-2:] == [final["time traveller"], final["traveller"]]
    assert len(lines) == 4
