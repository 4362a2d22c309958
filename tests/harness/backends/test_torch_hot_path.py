"""What the torch observer's hot path shortcuts must not change (issue 22): the no_grad
switch, the tape cache of known tensor lists, and elman_sine's data converted once."""

from __future__ import annotations

import gc
import weakref

import pytest

pytestmark = pytest.mark.torch

torch = pytest.importorskip("torch",
                            reason="install the torch extra: pip install 'rnn-harness[torch]'")

from harness.backends import torch_backend as tb  # noqa: E402


def test_no_grad_records_no_graph_and_restores_the_mode_even_on_an_error():
    w = torch.ones(2, requires_grad=True)
    with tb.no_grad():
        assert (w * 2).grad_fn is None and not torch.is_grad_enabled()
    assert torch.is_grad_enabled()
    with pytest.raises(ValueError), tb.no_grad():
        raise ValueError
    assert torch.is_grad_enabled()
    with torch.no_grad(), tb.no_grad():
        pass
    assert torch.is_grad_enabled()


def test_gradients_made_anew_each_step_are_not_kept_alive_by_the_recorder():
    """Ports whose optimizer sets gradients to None get new tensors each step: the cache
    of known lists must let old ones go (a 2 MB char_rnn gradient list per step)."""
    recorder, params = tb.StepRecorder(), [torch.zeros(8, 8)]
    first = torch.ones(8, 8)
    ref = weakref.ref(first)
    recorder.gradients([first], params)
    recorder.step(params)
    del first
    for _ in range(20):
        recorder.gradients([torch.ones(8, 8)], params)
        recorder.step(params)
    rows = recorder.results()
    gc.collect()
    assert ref() is None, "a gradient of step 0 is still held after 20 steps"
    assert len(rows) == 21 and all(r[0] == 8.0 for r in rows)


def test_a_known_list_is_recorded_with_its_current_values():
    """The same tensor objects step after step (gradients zeroed in place): each step's
    row holds that step's values, not the first ones."""
    recorder, w, g = tb.StepRecorder(), torch.zeros(3), torch.zeros(3)
    want = []
    for k in range(5):
        g.fill_(float(k + 1))
        recorder.gradients([g], [w])
        before = w.clone()
        w.sub_(0.5 * g)
        recorder.step([w])
        want.append((tb.global_norm([g]), None, tb.global_norm([w]),
                     tb.distance([before], [w])))
    assert recorder.results() == want


def test_elman_sine_data_converted_once_trains_as_numpy_slices_do():
    """The ``as_tensors`` hook is an optimisation only: without it (the numpy path every
    adapter without the hook takes) the same run gives the same bits."""
    from dataclasses import replace

    from harness.registry import default_registry
    from harness.seeding import seed_everything

    registry = default_registry()
    spec = registry.spec("elman_sine")
    config = replace(spec.profile("ci"), epochs=3)

    def run(hook: bool) -> list[dict[str, float]]:
        seed_everything(spec.default_seed)
        port = registry.load("elman_sine/torch")
        if not hook:
            port.adapter.as_tensors = None  # the schedule falls back to numpy slices
        port.build(config, spec.default_seed, "cpu")
        return [record.metrics for record in port.train()]

    assert run(hook=True) == run(hook=False)
