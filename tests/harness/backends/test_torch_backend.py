"""The torch backend's observables: the fast norms give the definition's values bit for bit
(the goldens' observable columns were recorded with the definition) and never touch their
inputs, float64 ones included (a ``.double()`` of a float64 tensor is the tensor itself)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.torch

torch = pytest.importorskip("torch",
                            reason="install the torch extra: pip install 'rnn-harness[torch]'")

from harness.backends import torch_backend as tb  # noqa: E402


def _definition_norm(tensors: list[torch.Tensor]) -> float:
    """sqrt(sum over tensors, in order, of sum(double(t) ** 2)): what the goldens hold."""
    total = sum((t.double().pow(2).sum() for t in tensors), torch.zeros((), dtype=torch.float64))
    return math.sqrt(float(total))


def _definition_distance(before: list[torch.Tensor], after: list[torch.Tensor]) -> float:
    return _definition_norm([a.double() - b.double() for a, b in zip(after, before, strict=True)])


shapes = st.lists(st.tuples(st.integers(1, 300), st.integers(1, 300)), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(shapes=shapes, seed=st.integers(0, 2**31 - 1), scale=st.integers(-6, 4),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_norms_equal_the_definition_bit_for_bit_and_leave_inputs_alone(shapes, seed, scale,
                                                                        dtype):
    gen = torch.Generator().manual_seed(seed)
    after = [torch.randn(*s, generator=gen, dtype=dtype) * 10.0 ** scale for s in shapes]
    before = [t + 1e-3 * torch.randn(t.shape, generator=gen, dtype=dtype) for t in after]
    kept = [t.clone() for t in after + before]

    assert tb.global_norm(after) == _definition_norm(after)
    assert tb.distance(before, after) == _definition_distance(before, after)
    for t, k in zip(after + before, kept, strict=True):
        torch.testing.assert_close(t, k, rtol=0, atol=0)


def test_norms_of_non_contiguous_tensors_equal_the_definition():
    gen = torch.Generator().manual_seed(3)
    base = torch.randn(64, 48, generator=gen)
    views = [base.t(), base[:, ::3]]
    assert tb.global_norm(views) == _definition_norm(views)
    other = [v + 1e-3 for v in views]
    assert tb.distance(views, other) == _definition_distance(views, other)
    np.testing.assert_array_equal(base.numpy(), torch.randn(64, 48, generator=torch.Generator()
                                                            .manual_seed(3)).numpy())
