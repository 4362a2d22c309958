"""The MXNet backend's float64 norms are summed on the host by an algorithm that fixes their
bits: numpy's pairwise ``add.reduce`` over rows of at most ``BLOCK`` elements (no BLAS), the
blocks of a longer row by ``math.fsum``. The same bits with numpy 1.23 (the mxnet env) and 2.x
(the unit env), under every SIMD target numpy dispatches to and every OpenBLAS core type, so a
golden's observable columns do not depend on the machine that recorded them."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

#: ``mxnet_backend.BLOCK`` (this module's framework-free tests cannot import the backend)
BLOCK = 8192


def _pairwise(values: list[float]) -> float:
    """numpy's pairwise sum of a contiguous float64 row (``pairwise_sum`` in numpy's
    ``loops_utils.h.src``, unchanged from 1.9 to 2.x), in Python floats."""
    n = len(values)
    if n < 8:
        total = 0.0
        for v in values:
            total += v
        return total
    if n <= 128:
        acc = values[:8]
        i = 8
        while i < n - n % 8:
            for j in range(8):
                acc[j] += values[i + j]
            i += 8
        total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
        for v in values[i:]:
            total += v
        return total
    half = n // 2
    half -= half % 8
    return _pairwise(values[:half]) + _pairwise(values[half:])


def _reference(row: np.ndarray) -> float:
    """The sum of squares of one row as the backend defines it: zero-padded to whole blocks
    when longer than one, each block pairwise, the blocks' sums by ``math.fsum``."""
    squares = [float(v) * float(v) for v in row]
    if len(squares) <= BLOCK:
        return _pairwise(squares)
    squares += [0.0] * (-len(squares) % BLOCK)
    return math.fsum(_pairwise(squares[k:k + BLOCK]) for k in range(0, len(squares), BLOCK))


#: row widths around the pairwise sum's branches (8, 128) and the block (8192)
widths = st.one_of(st.integers(1, 300), st.sampled_from([1023, 1024, 1025, BLOCK - 1, BLOCK]),
                   st.integers(BLOCK - 8, BLOCK))


def _values(seed: int, shape: tuple[int, ...], dtype: str = "float64") -> np.ndarray:
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.integers(-30, 30, shape)
    return (rng.standard_normal(shape) * scale).astype(dtype)


@settings(max_examples=20, deadline=None)
@given(rows=st.integers(1, 5), width=widths, seed=st.integers(0, 2**31 - 1))
def test_numpy_sums_each_row_of_a_table_pairwise_as_that_row_alone(rows, width, seed):
    table = _values(seed, (rows, width)) ** 2
    got = np.add.reduce(table, axis=1).tolist()
    assert got == [float(np.add.reduce(np.array(r))) for r in table]
    assert got == [_pairwise(r.tolist()) for r in table]


def _row_sums() -> list[str]:
    rng = np.random.default_rng(5)
    sums: list[float] = []
    for width in (7, 100, 129, 1000, BLOCK):
        table = (rng.standard_normal((4, width)) * 10.0 ** rng.integers(-9, 9, (4, width))) ** 2
        sums += np.add.reduce(table, axis=1).tolist()
    return [s.hex() for s in sums]


def _dispatched() -> list[str]:
    """The SIMD targets numpy dispatches to on this machine, beyond its baseline."""
    try:
        from numpy._core import _multiarray_umath as core
    except ImportError:  # numpy 1.x
        from numpy.core import _multiarray_umath as core
    return [f for f in core.__cpu_dispatch__ if core.__cpu_features__.get(f)]


def _elsewhere(function: str) -> tuple[list[str], list[str]]:
    """(``function()``'s value, numpy's dispatched targets) in a fresh process of this
    Python with numpy's SIMD dispatch off and OpenBLAS on its oldest x86-64 core."""
    script = (f"import json; from {__name__} import {function} as f, _dispatched as d; "
              "print(json.dumps([f(), d()]))")
    env = {**os.environ, "OPENBLAS_CORETYPE": "Prescott",
           "NPY_DISABLE_CPU_FEATURES": " ".join(_dispatched()),
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=300, check=True)
    value, dispatched = json.loads(run.stdout.strip().splitlines()[-1])
    return value, dispatched


def test_numpy_row_sums_keep_their_bits_without_simd_and_under_another_openblas_core():
    value, dispatched = _elsewhere("_row_sums")
    assert not dispatched, "numpy ignored NPY_DISABLE_CPU_FEATURES"
    assert value == _row_sums()


# -- the backend itself (numpy 1.23 in the mxnet env) -------------------------------------
def _mb():
    pytest.importorskip("mxnet", reason="install the mxnet extra: pip install 'rnn-harness[mxnet]'")
    from harness.backends import mxnet_backend
    return mxnet_backend


@pytest.mark.mxnet
def test_the_backend_s_block_is_the_one_these_tests_check():
    mb = _mb()
    assert mb.BLOCK == BLOCK


@pytest.mark.mxnet
@settings(max_examples=15, deadline=None)
@given(rows=st.integers(1, 4), width=st.one_of(widths, st.integers(BLOCK + 1, 3 * BLOCK + 9)),
       seed=st.integers(0, 2**31 - 1))
def test_sum_of_squares_is_the_blockwise_pairwise_sum_of_each_row(rows, width, seed):
    mb = _mb()
    table = _values(seed, (rows, width))
    padded = np.zeros((rows, mb._width(width)))
    padded[:, :width] = table
    assert mb.sum_of_squares(padded) == [_reference(r) for r in table]


shapes = st.lists(st.lists(st.integers(1, 70), min_size=0, max_size=3), min_size=1,
                  max_size=5)


@pytest.mark.mxnet
@settings(max_examples=15, deadline=None)
@given(shapes=shapes, seed=st.integers(0, 2**31 - 1), dtype=st.sampled_from(["float32", "float64"]))
def test_global_norm_and_distance_are_the_reference_sum_of_every_element_in_order(
        shapes, seed, dtype):
    mb = _mb()
    import mxnet as mx
    before = [_values(seed + k, tuple(s), dtype) for k, s in enumerate(shapes)]
    after = [_values(seed + 99 + k, tuple(s), dtype) for k, s in enumerate(shapes)]
    flat = np.concatenate([a.reshape(-1).astype(np.float64) for a in before])
    moved = np.concatenate([(a.astype(np.float64) - b.astype(np.float64)).reshape(-1)
                            for a, b in zip(after, before, strict=True)])
    arrays = [mx.nd.array(a, dtype=dtype) for a in before]
    assert mb.global_norm(arrays) == math.sqrt(_reference(flat))
    assert mb.distance(arrays, [mx.nd.array(a, dtype=dtype) for a in after]) == math.sqrt(
        _reference(moved))


def _backend_norms() -> list[str]:
    import mxnet as mx

    mb = _mb()
    rng = np.random.default_rng(6)
    norms = []
    for shapes in ([(7,)], [(30, 40), (40,)], [(300, 100), (100,), (9000,)]):
        arrays = [mx.nd.array(rng.standard_normal(s) * 10.0 ** rng.integers(-9, 9, s))
                  for s in shapes]
        norms.append(mb.global_norm(arrays))
    for width in (100, 1000, BLOCK, 2 * BLOCK):  # tables of rows, as a tape's
        norms += mb.sum_of_squares(rng.standard_normal((4, width)) * 1e3)
    return [n.hex() for n in norms]


@pytest.mark.mxnet
def test_the_backend_s_norms_keep_their_bits_without_simd_and_under_another_openblas_core():
    value, dispatched = _elsewhere("_backend_norms")
    assert not dispatched, "numpy ignored NPY_DISABLE_CPU_FEATURES"
    assert value == _backend_norms()
