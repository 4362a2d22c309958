"""The torch observer's fast path (``StepRecorder``): copies each step, measures many steps
at once, and gives ``global_norm``/``distance``'s values bit for bit (the goldens' observable
columns were recorded with those), whatever the layout, dtype, thread count or batch."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.torch

torch = pytest.importorskip("torch",
                            reason="install the torch extra: pip install 'rnn-harness[torch]'")

from harness.backends import torch_backend as tb  # noqa: E402


def _train(shapes, seed, scale, dtype, steps, clip, measure_every, transposed=False):
    """Yield (recorder rows, eager rows) for a toy SGD run with optional clipping."""
    gen = torch.Generator().manual_seed(seed)
    params = [(torch.randn(*s, generator=gen, dtype=dtype) * 10.0 ** scale).requires_grad_()
              for s in shapes]
    if transposed:  # a non-contiguous parameter: measured at once, not taped
        params[0] = params[0].detach().t().requires_grad_()
    recorder, got, want = tb.StepRecorder(), [], []
    for step in range(steps):
        grads = [torch.randn(p.shape, generator=gen, dtype=dtype) for p in params]
        recorder.gradients(grads, params)
        eager = [tb.global_norm(grads), None]
        before = tb.snapshot(params)
        if clip:
            for g in grads:
                g.mul_(0.5)
            recorder.clipped(grads)
            eager[1] = tb.global_norm(grads)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p -= 0.1 * g
        recorder.step(params)
        want.append((*eager, tb.global_norm(params), tb.distance(before, params)))
        if recorder.full or (step + 1) % measure_every == 0:
            got.extend(recorder.results())
    got.extend(recorder.results())
    return got, want


shapes = st.lists(st.tuples(st.integers(1, 70), st.integers(1, 70)), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None)
@given(shapes=shapes, seed=st.integers(0, 2**31 - 1), scale=st.integers(-6, 4),
       dtype=st.sampled_from([torch.float32, torch.float64]), clip=st.booleans(),
       measure_every=st.integers(1, 9))
def test_recorded_norms_equal_global_norm_and_distance_bit_for_bit(shapes, seed, scale, dtype,
                                                                    clip, measure_every):
    got, want = _train(shapes, seed, scale, dtype, 12, clip, measure_every)
    assert got == want


def test_a_layout_no_tape_holds_is_measured_at_once_with_the_same_values():
    got, want = _train([(64, 48), (5,)], 1, 0, torch.float32, 5, True, 3, transposed=True)
    assert got == want


@pytest.mark.parametrize("threads", [1, 2])
def test_large_tensors_keep_the_bits_at_any_thread_count(threads, monkeypatch):
    """ATen sums 32768 elements or more in per-thread chunks: a tape (made large enough to
    hold such rows here) must sum them as the one-tensor call does at that thread count."""
    monkeypatch.setattr(tb, "TAPE_ROW_BYTES", 1 << 20)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got, want = _train([(300, 300), (300,)], 5, 1, torch.float32, 9, True, 4)
    finally:
        torch.set_num_threads(before)
    assert got == want


def test_large_steps_are_measured_at_once_with_the_same_values():
    got, want = _train([(300, 300), (300,)], 6, 0, torch.float32, 4, True, 2)
    assert got == want


def test_a_full_tape_says_so_and_is_empty_after_results():
    recorder = tb.StepRecorder()
    params, grads = [torch.zeros(128, 128)], [torch.ones(128, 128)]
    for _ in range(64):
        if recorder.full:
            break
        recorder.gradients(grads, params)
        recorder.step(params)
    assert recorder.full, "64 KB rows, three a step, fill a 4 MB tape within 22 steps"
    rows = recorder.results()
    assert not recorder.full and rows and rows[0] == (128.0, None, 0.0, 0.0)


def test_reading_the_observer_s_steps_mid_step_loses_nothing():
    """``Observer.steps`` read between ``gradients`` and ``step`` must not measure (and
    empty) the tapes that hold the step in flight: it gives the rows measured so far."""
    from harness.interface._observe import Observer

    class Adapter:
        port_id, backend = "toy/torch", tb

        def __init__(self):
            self.w, self.g = torch.ones(3, 3), torch.full((3, 3), 2.0)

        def tensors(self):
            return {"w": self.w}

        def grads(self):
            return {"w": self.g}

    observer, ad = Observer(keep_steps=True), Adapter()
    for k in range(3):
        observer.gradients(ad)
        assert len(observer.steps) <= k
        ad.w.sub_(0.5)
        observer.step(ad, float(k))
    rows = observer.steps
    assert [r["loss"] for r in rows] == [0.0, 1.0, 2.0]
    assert all(r["grad_norm"] == 6.0 and r["update_norm"] == 1.5 for r in rows), rows
