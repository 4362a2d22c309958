"""Hypothesis properties of comparison, golden round trip and seeding."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from harness.compare import compare_trajectories
from harness.golden import GoldenStore
from harness.interface import Tolerance, Trajectory
from harness.runner import run_port
from tests.fakes import fake_registry

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=64)
series = st.lists(finite, min_size=1, max_size=20)
tols = st.builds(Tolerance, rtol=st.floats(0, 0.5), atol=st.floats(0, 1.0))


def T(values):
    return Trajectory("fake/numpy", "ci", {"loss": np.asarray(values, dtype=np.float64)})


@given(series, series, tols)
def test_comparison_is_symmetric(a, b, tol):
    n = min(len(a), len(b))
    ab = compare_trajectories(T(a[:n]), T(b[:n]), ["loss"], {"default": tol})
    ba = compare_trajectories(T(b[:n]), T(a[:n]), ["loss"], {"default": tol})
    assert ab.passed == ba.passed
    assert ab.first_divergent_epoch == ba.first_divergent_epoch


@given(series, tols)
def test_comparison_is_reflexive(a, tol):
    assert compare_trajectories(T(a), T(a), ["loss"], {"default": tol}).passed


@given(series, series, tols, st.floats(1, 10), st.floats(1, 10))
def test_loosening_a_tolerance_never_turns_pass_into_fail(a, b, tol, kr, ka):
    n = min(len(a), len(b))
    loose = Tolerance(rtol=tol.rtol * kr, atol=tol.atol * ka)
    tight_pass = compare_trajectories(T(a[:n]), T(b[:n]), ["loss"], {"default": tol}).passed
    loose_pass = compare_trajectories(T(a[:n]), T(b[:n]), ["loss"], {"default": loose}).passed
    assert loose_pass or not tight_pass


@given(st.lists(st.floats(allow_nan=False, width=64), min_size=1, max_size=30))
def test_golden_write_then_read_returns_the_same_data(tmp_path_factory, values):
    store = GoldenStore(tmp_path_factory.mktemp("g"))
    traj = T(values)
    traj.meta = {"config_hash": "x", "seed": 0}
    store.write(traj)
    back = store.read("fake/numpy", "ci")
    np.testing.assert_array_equal(back.metrics["loss"], traj.metrics["loss"])


@given(st.integers(0, 2**31 - 1))
def test_seeding_twice_gives_identical_fake_trajectories(seed):
    a = run_port("fake/numpy", "ci", seed=seed, registry=fake_registry())
    b = run_port("fake/numpy", "ci", seed=seed, registry=fake_registry())
    np.testing.assert_array_equal(a.metrics["loss"], b.metrics["loss"])
