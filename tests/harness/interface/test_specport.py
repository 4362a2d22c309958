"""SpecPort: parameters through the table, checkpoints that restore exactly, observables."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import UsageError
from harness.interface import SpecPort
from harness.interface._observe import EPOCH_OBSERVABLES
from tests.harness.interface.toy import SPEC, ToyAdapter, ToyConfig

DEFAULT = ToyConfig()


def built(config: ToyConfig = DEFAULT, seed: int = 5) -> SpecPort:
    port = SpecPort(SPEC, ToyAdapter())
    port.build(config, seed, "cpu")
    return port


def test_params_read_through_the_table_in_canonical_layout():
    port = built()
    params = port.get_params()
    assert {k: v.shape for k, v in params.items()} == {"W_xh": (2, 3), "W_hh": (3, 3),
                                                        "W_hq": (3, 1)}
    np.testing.assert_array_equal(params["W_hh"], port.adapter.w[2:])
    np.testing.assert_array_equal(params["W_hq"], port.adapter.v.T)


def test_set_params_round_trips_and_writes_into_the_live_arrays():
    port, other = built(seed=5), built(seed=6)
    other.set_params(port.get_params())
    for name, value in port.get_params().items():
        np.testing.assert_array_equal(other.get_params()[name], value)
    np.testing.assert_array_equal(other.adapter.w, port.adapter.w)


def test_set_params_refuses_a_wrong_shape_and_writes_nothing():
    port = built()
    before = port.get_params()
    bad = {**before, "W_hh": np.zeros((4, 4))}
    with pytest.raises(UsageError, match=r"W_hh: obtained \(4, 4\), expected \(3, 3\)"):
        port.set_params(bad)
    for name, value in before.items():
        np.testing.assert_array_equal(port.get_params()[name], value)


def test_set_params_names_missing_and_unknown_parameters():
    port = built()
    params = port.get_params()
    params.pop("W_hq")
    params["W_xx"] = np.zeros(1)
    with pytest.raises(UsageError) as info:
        port.set_params(params)
    assert "missing: W_hq" in str(info.value) and "unknown: W_xx" in str(info.value)


@pytest.mark.parametrize("stop", [1, 5, 11])
def test_a_restored_checkpoint_continues_bit_for_bit(stop):
    config = ToyConfig()
    whole = built(config)
    rows, ckpt = [], None
    for i, record in enumerate(whole.train()):
        rows.append(record.metrics)
        if i + 1 == stop:
            ckpt = whole.checkpoint()
    assert ckpt is not None and ckpt.epoch == stop
    resumed = built(config)
    resumed.restore(ckpt)
    tail = [record.metrics for record in resumed.train()]
    assert tail == rows[stop:]  # every value, observables included, exactly equal
    assert resumed.outputs() == whole.outputs()


def test_each_part_of_the_checkpoint_is_needed():
    """Dropping the optimizer state, the carried state or the RNG changes the tail, so the
    restore test above can fail."""
    config = ToyConfig()
    whole = built(config)
    rows, ckpt = [], None
    for i, record in enumerate(whole.train()):
        rows.append(record.metrics["loss"])
        if i + 1 == 4:
            ckpt = whole.checkpoint()
    assert ckpt is not None
    for drop in ("opt/", "carry/", "rng"):
        broken = built(config)
        if drop == "rng":
            ckpt_b = type(ckpt)(ckpt.epoch, dict(ckpt.arrays), {**ckpt.scalars, "rng": None})
            broken.restore(ckpt_b)
            broken.loop.rng = __import__("random").Random(99)
        else:
            arrays = {k: v for k, v in ckpt.arrays.items() if not k.startswith(drop)}
            scalars = {k: v for k, v in ckpt.scalars.items()
                       if not (drop == "opt/" and k == "optimizer")}
            if drop == "opt/":
                arrays.update({k: np.zeros_like(v) for k, v in ckpt.arrays.items()
                               if k.startswith("opt/")})
                scalars["optimizer"] = {"step": 0}
            broken.restore(type(ckpt)(ckpt.epoch, arrays, scalars))
        tail = [r.metrics["loss"] for r in broken.train()]
        assert tail != rows[4:], f"dropping {drop} went unnoticed"


def test_observables_describe_each_epoch():
    port = built(ToyConfig(epochs=3))
    records = list(port.train())
    for record in records:
        assert set(EPOCH_OBSERVABLES) <= set(record.metrics)
        assert 0.0 <= record.metrics["clip_fraction"] <= 1.0
        assert record.metrics["grad_norm_max"] >= record.metrics["grad_norm_mean"] > 0
    # with a huge threshold nothing is clipped; with a tiny one every step is
    never = built(ToyConfig(epochs=2, clip_theta=1e9))
    always = built(ToyConfig(epochs=2, clip_theta=1e-9))
    assert [r.metrics["clip_fraction"] for r in never.train()] == [0.0, 0.0]
    assert [r.metrics["clip_fraction"] for r in always.train()] == [1.0, 1.0]


def test_observing_changes_no_training_value():
    watched, blind = SpecPort(SPEC, ToyAdapter()), SpecPort(SPEC, ToyAdapter(), observe=False)
    for port in (watched, blind):
        port.build(ToyConfig(), 5, "cpu")
    assert ([r.metrics["loss"] for r in watched.train()]
            == [r.metrics["loss"] for r in blind.train()])


def test_restoring_a_used_port_replaces_what_the_schedule_kept():
    port = built()
    start = port.checkpoint()  # epoch 0: the schedule has kept nothing yet
    list(port.train())
    assert "last_order" in port.loop.extra
    port.restore(start)
    assert "last_order" not in port.loop.extra
    fresh = built()
    assert [r.metrics for r in port.train()] == [r.metrics for r in fresh.train()]
