"""The MXNet observer's fast path (``StepRecorder``): copies each step, measures many steps
at once, and gives ``global_norm``/``distance``'s values bit for bit (the goldens' observable
columns were recorded with those)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.mxnet

mx = pytest.importorskip("mxnet",
                         reason="install the mxnet extra: pip install 'rnn-harness[mxnet]'")

from harness.backends import mxnet_backend as mb  # noqa: E402


def _halve(grads):
    for g in grads:
        g[:] = g * 0.5


def _train(shapes, seed, scale, dtype, steps, clip, measure_every, clip_fn=_halve):
    """(recorder rows, eager rows) of a toy SGD run with optional clipping."""
    rng = np.random.default_rng(seed)
    params = [mx.nd.array(rng.standard_normal(s) * 10.0 ** scale, dtype=dtype) for s in shapes]
    recorder, got, want = mb.StepRecorder(), [], []
    for step in range(steps):
        grads = [mx.nd.array(rng.standard_normal(p.shape), dtype=dtype) for p in params]
        recorder.gradients(grads, params)
        eager = [mb.global_norm(grads), None]
        before = mb.snapshot(params)
        if clip:
            clip_fn(grads)
            recorder.clipped(grads)
            eager[1] = mb.global_norm(grads)
        for p, g in zip(params, grads, strict=True):
            p[:] = p - 0.1 * g
        recorder.step(params)
        want.append((*eager, mb.global_norm(params), mb.distance(before, params)))
        if recorder.full or (step + 1) % measure_every == 0:
            got.extend(recorder.results())
    got.extend(recorder.results())
    return got, want


shapes = st.lists(st.tuples(st.integers(1, 40), st.integers(1, 40)), min_size=1, max_size=6)


@settings(max_examples=15, deadline=None)
@given(shapes=shapes, seed=st.integers(0, 2**31 - 1), scale=st.integers(-6, 4),
       dtype=st.sampled_from(["float32", "float64"]), clip=st.booleans(),
       measure_every=st.integers(1, 9))
def test_recorded_norms_equal_global_norm_and_distance_bit_for_bit(shapes, seed, scale, dtype,
                                                                    clip, measure_every):
    got, want = _train(shapes, seed, scale, dtype, 10, clip, measure_every)
    assert got == want


def test_large_steps_are_measured_at_once_with_the_same_values():
    got, want = _train([(200, 200), (200,)], 6, 0, "float32", 4, True, 2)
    assert got == want


def _leave(grads):  # a clipping below its threshold: the gradients stay as they are
    pass


def _nudge_one(grads):  # one element of the last gradient moves by one ulp
    last = grads[-1].asnumpy()
    flat = last.reshape(-1)
    flat[-1] = np.nextafter(flat[-1], np.array(np.inf, dtype=flat.dtype))
    grads[-1][:] = mx.nd.array(last, dtype=last.dtype)


@pytest.mark.parametrize("clip_fn", [_leave, _nudge_one, _halve], ids=lambda f: f.__name__)
def test_a_large_step_s_clipped_norm_is_global_norm_s_whatever_the_clipping_changed(clip_fn):
    """Large steps skip measuring gradients the clipping left exactly as they were: the
    value must still be global_norm's, and a change of one ulp in one element be seen."""
    got, want = _train([(200, 200), (200,)], 7, 0, "float32", 4, True, 2, clip_fn=clip_fn)
    assert got == want
    if clip_fn is _nudge_one:
        assert all(g != p for g, p, _, _ in got), "a one-ulp change reads as no change"


def test_a_full_tape_says_so_and_is_empty_after_results():
    recorder = mb.StepRecorder()
    params, grads = [mx.nd.zeros((100, 100))], [mx.nd.ones((100, 100))]
    for _ in range(400):
        if recorder.full:
            break
        recorder.gradients(grads, params)
        recorder.step(params)
    assert recorder.full, "40 KB rows, three a step, fill an 8 MB tape"
    rows = recorder.results()
    assert not recorder.full and rows and rows[0] == (100.0, None, 0.0, 0.0)


def test_a_list_seen_before_records_its_arrays_current_values_and_a_new_array_its_own():
    """Lists of the same arrays are looked up (their one-row views kept): the views must
    show each step's values, and a list holding another array must not reuse them."""
    recorder, want = mb.StepRecorder(), []
    w = mx.nd.array(np.arange(6.0).reshape(2, 3))
    for step in range(5):
        g = mx.nd.array(np.full((2, 3), step + 1.0)) if step != 3 else mx.nd.ones((2, 3)) * 7
        recorder.gradients([g], [w])
        before = mb.snapshot([w])
        w[:] = w - 0.5 * g  # in place: the same array object
        recorder.step([w])
        want.append((mb.global_norm([g]), None, mb.global_norm([w]), mb.distance(before, [w])))
    w2 = mx.nd.array(np.ones((2, 3)) * 3)  # another array where w was
    recorder.gradients([w2], [w2])
    recorder.step([w2])
    want.append((mb.global_norm([w2]), None, mb.global_norm([w2]), 0.0))
    assert recorder.results() == want
