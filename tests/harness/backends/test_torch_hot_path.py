"""What the torch observer's hot path shortcuts must not change (issue 22): the no_grad
switch, the tape cache of known tensor lists, runs of plain steps, equal-size tensors summed
side by side, and elman_sine's data converted once."""

from __future__ import annotations

import gc
import weakref

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _eager_row(grads, before, params, post=None):
    return (tb.global_norm(grads), post, tb.global_norm(params), tb.distance(before, params))


# runs of tensors of one size side by side (summed in one call as (rows, k, n)), sizes from
# 1 to past ATen's 4x-vector blocks and its cascade levels
_runs = st.lists(st.tuples(st.integers(1, 5000), st.integers(1, 4)), min_size=1, max_size=4)


@settings(max_examples=40, deadline=None)
@given(runs=_runs, seed=st.integers(0, 2**31 - 1), steps=st.integers(1, 9),
       scale=st.integers(-5, 5), threads=st.sampled_from([1, 2]))
def test_tensors_of_one_size_side_by_side_are_summed_as_each_alone(runs, seed, steps, scale,
                                                                   threads):
    """A tape sums k equal-size tensors of a row in one (rows, k, n) reduction: each of
    those sums must be the one-tensor sum ``global_norm`` takes, bit for bit, also where
    ATen splits a large block between threads (it splits rows, never a tensor's sum)."""
    gen = torch.Generator().manual_seed(seed)
    shapes = [(size,) for size, count in runs for _ in range(count)]
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(tb, "TAPE_ROW_BYTES", 1 << 20)  # every drawn step fits a tape
            got, want = _plain_steps(shapes, gen, steps, scale)
    finally:
        torch.set_num_threads(before)
    assert got == want


def _plain_steps(shapes, gen, steps, scale):
    params = [torch.randn(s, generator=gen) * 10.0 ** scale for s in shapes]
    grads = [torch.randn(s, generator=gen) * 10.0 ** -scale for s in shapes]
    recorder, want = tb.StepRecorder(), []
    for _ in range(steps):
        for g in grads:
            g.mul_(1.5)
        recorder.gradients(grads, params)
        before = tb.snapshot(params)
        for p, g in zip(params, grads, strict=True):
            p.sub_(0.1 * g)
        recorder.step(params)
        want.append(_eager_row(grads, before, params))
    return recorder.results(), want


def test_a_change_made_between_steps_through_data_is_in_the_next_update():
    """An adapter may change its parameters in place through ``.data`` after a step is
    observed and before the next one's gradients (no version counter sees it): each
    step's update norm must still start from the parameters at its ``gradients()``."""
    from harness.interface._observe import Observer

    class Adapter:
        port_id, backend = "toy/torch", tb

        def __init__(self):
            self.w = torch.linspace(-1.0, 1.0, 12).reshape(3, 4).requires_grad_()
            self.w.grad = torch.full((3, 4), 0.25)

        def tensors(self):
            return {"w": self.w}

        def grads(self):
            return {"w": self.w.grad}

    ad, observer, want = Adapter(), Observer(keep_steps=True), []
    for k in range(6):
        ad.w.data.mul_(0.5)  # outside the observed window: before this step's gradients
        observer.gradients(ad)
        before = tb.snapshot([ad.w])
        with torch.no_grad():
            ad.w.sub_(0.1 * (k + 1) * ad.w.grad)
        observer.step(ad, 0.0)
        want.append(tb.distance(before, [ad.w]))
    assert [r["update_norm"] for r in observer.steps] == want


def test_a_run_of_plain_steps_interrupted_in_any_way_keeps_every_step():
    """Plain steps are kept as bare rows; a clipped step, another parameter list or
    gradients no tape holds turn them into the general entries midway: every step's
    values must still be ``global_norm``/``distance``'s, in order."""
    gen = torch.Generator().manual_seed(3)
    params = [torch.randn(4, 3, generator=gen), torch.randn(3, generator=gen)]
    other = [torch.randn(5, generator=gen)]
    recorder, want = tb.StepRecorder(), []
    plan = ["plain", "plain", "clip", "plain", "other", "plain", "plain", "strided", "plain",
            "measure", "plain", "clip", "measure", "plain"]
    for kind in plan:
        if kind == "measure":
            assert recorder.results() == want
            want = []
            continue
        ps = other if kind == "other" else params
        grads = [torch.randn(p.shape, generator=gen) for p in ps]
        if kind == "strided":  # not contiguous: no tape holds it, measured at once
            grads[0] = torch.randn(3, 4, generator=gen).t()
        recorder.gradients(grads, ps)
        pre = tb.global_norm(grads)
        before, post = tb.snapshot(ps), None
        if kind == "clip":
            for g in grads:
                g.mul_(0.5)
            recorder.clipped(grads)
            post = tb.global_norm(grads)
        for p, g in zip(ps, grads, strict=True):
            p.sub_(0.1 * g)
        recorder.step(ps)
        want.append((pre, post, tb.global_norm(ps), tb.distance(before, ps)))
    assert recorder.results() == want
