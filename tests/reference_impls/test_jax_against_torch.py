"""Every JAX port, loaded with its torch twin's initial weights, follows the torch trajectory.

There is no JAX original, so this is the JAX ports' faithfulness: same weights, same data
order, the spec's ``cross_config`` (the same model in every framework), and each metric
within the spec's ``CROSS_FRAMEWORK`` tolerance over the epochs it gates. Runs the ci
profile for a few seeds and the tutorial profile for the default seed (slow).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="install the torch extra: pip install 'rnn-harness[torch]'")
pytest.importorskip("jax", reason="install the jax extra: pip install 'rnn-harness[jax]'")

from harness.compare import compare_trajectories  # noqa: E402
from harness.errors import CorpusError  # noqa: E402
from harness.interface import Params  # noqa: E402
from harness.registry import default_registry  # noqa: E402
from harness.runner import run_port  # noqa: E402
from harness.seeding import seed_everything  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.jax, pytest.mark.cross_framework]

REGISTRY = default_registry()


def _twins() -> list[tuple[str, str]]:
    ids = set(REGISTRY.ids())
    pairs = []
    for entry in REGISTRY.entries():
        twin = entry.port_id.replace("/jax", "/torch", 1)
        if entry.framework == "jax" and twin in ids:
            pairs.append((twin, entry.port_id))
    return pairs


def _cases(profile: str, seeds: tuple[int, ...], *marks: pytest.MarkDecorator) -> list[object]:
    return [pytest.param(torch_id, jax_id, profile, seed, marks=list(marks),
                         id=f"{jax_id.replace('/', '-')}-{profile}-seed{seed}")
            for torch_id, jax_id in _twins() for seed in seeds]


def _torch_initial(torch_id: str, config: object, seed: int) -> Params:
    port = REGISTRY.load(torch_id)
    seed_everything(seed)
    port.build(config, seed, "cpu")
    return port.get_params()


def _run_pair(torch_id: str, jax_id: str, profile: str, seed: int):
    spec = REGISTRY.spec(REGISTRY.get(jax_id).tutorial)
    config = spec.same_model_config(profile)
    try:
        params = _torch_initial(torch_id, config, seed)
        a = run_port(torch_id, profile, seed=seed, config=config)
        b = run_port(jax_id, profile, seed=seed, config=config, params=params)
    except CorpusError as exc:
        pytest.skip(f"char_rnn corpus not found: {exc.summary} (set RNN_HARNESS_DATA)")
    return spec, a, b


# The ci profile is short enough for several seeds; its epochs are the tutorial run's first
# ones (same config), so these cases gate the start of every seed's trajectory.
@pytest.mark.parametrize(("torch_id", "jax_id", "profile", "seed"),
                         _cases("ci", (0, 1, 2)) + _cases("tutorial", (0,), pytest.mark.slow))
def test_jax_follows_torch_from_the_same_weights(torch_id, jax_id, profile, seed):
    spec, a, b = _run_pair(torch_id, jax_id, profile, seed)
    comp = compare_trajectories(b, a, spec.metrics, spec.cross_framework)
    assert comp.passed, (f"{jax_id} vs {torch_id} ({profile}, seed {seed}): max rel "
                         f"{comp.max_rel_error:.3g}, first divergent epoch "
                         f"{comp.first_divergent_epoch}")


@pytest.mark.parametrize(("torch_id", "jax_id"), _twins(),
                         ids=[j.replace("/", "-") for _, j in _twins()])
def test_torch_weights_load_into_the_jax_port_bit_for_bit(torch_id, jax_id):
    spec = REGISTRY.spec(REGISTRY.get(jax_id).tutorial)
    config = spec.same_model_config("ci")
    try:
        params = _torch_initial(torch_id, config, 0)
        port = REGISTRY.load(jax_id)
        port.build(config, 1, "cpu")
    except CorpusError as exc:
        pytest.skip(f"char_rnn corpus not found: {exc.summary} (set RNN_HARNESS_DATA)")
    assert any(not np.array_equal(v, params[k]) for k, v in port.get_params().items())
    port.set_params(params)
    for name, value in port.get_params().items():
        assert value.dtype == params[name].dtype, name
        np.testing.assert_array_equal(value, params[name], err_msg=name)


@pytest.mark.parametrize(("torch_id", "jax_id"), _twins(),
                         ids=[j.replace("/", "-") for _, j in _twins()])
def test_different_initial_weights_are_told_apart(torch_id, jax_id):
    """The check can fail: the JAX port's own weights (same seed) leave the tolerance."""
    spec = REGISTRY.spec(REGISTRY.get(jax_id).tutorial)
    config = spec.same_model_config("ci")
    try:
        a = run_port(torch_id, "ci", config=config)
        b = run_port(jax_id, "ci", config=config)
    except CorpusError as exc:
        pytest.skip(f"char_rnn corpus not found: {exc.summary} (set RNN_HARNESS_DATA)")
    assert not compare_trajectories(b, a, spec.metrics, spec.cross_framework).passed
