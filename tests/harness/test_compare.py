"""compare_trajectories: pass/fail, first divergent epoch, errors, prefix and horizon."""

import numpy as np
import pytest

from harness.compare import compare_trajectories, format_pair
from harness.interface import Tolerance, Trajectory


def traj(values, port="fake/numpy", profile="ci"):
    return Trajectory(port, profile, {"loss": np.asarray(values, dtype=float)})


TOL = {"default": Tolerance(rtol=1e-3)}


def test_identical_trajectories_pass_with_zero_error():
    comp = compare_trajectories(traj([3, 2, 1]), traj([3, 2, 1]), ["loss"], TOL)
    assert comp.passed and comp.max_rel_error == 0 and comp.first_divergent_epoch is None


def test_compare_reports_first_divergent_epoch():
    comp = compare_trajectories(traj([3, 2, 1.1, 0.5]), traj([3, 2, 1, 0.4]), ["loss"], TOL)
    assert not comp.passed
    assert comp.first_divergent_epoch == 2
    assert np.isclose(comp.metrics[0].max_rel_error, 0.25)
    assert comp.metrics[0].worst_epoch == 3


def test_nan_never_passes():
    comp = compare_trajectories(traj([1, np.nan]), traj([1, np.nan]), ["loss"], TOL)
    assert not comp.passed and comp.first_divergent_epoch == 1


def test_length_mismatch_fails_unless_prefix_is_allowed():
    short, long = traj([3, 2]), traj([3, 2, 1])
    assert not compare_trajectories(short, long, ["loss"], TOL).passed
    assert compare_trajectories(short, long, ["loss"], TOL, prefix=True).passed


def test_epochs_past_the_horizon_are_reported_but_not_gated():
    tol = {"default": Tolerance(rtol=1e-3, horizon=2)}
    comp = compare_trajectories(traj([3, 2, 5]), traj([3, 2, 1]), ["loss"], tol)
    assert comp.passed
    assert not compare_trajectories(traj([3, 2, 5]), traj([3, 2, 1]), ["loss"], TOL).passed


@pytest.mark.parametrize(("a", "b", "want"), [
    (14.27612345, 14.27612999, ("14.27612", "14.27613")),  # equal at 6 digits: more
    (0.299012, 0.299021, ("0.299012", "0.299021")),          # differ at 6: as they are
    (1.0, 1.0, ("1", "1")),                                   # equal values: 6 digits
    (float("nan"), 2.0, ("nan", "2")),
])
def test_format_pair_shows_the_digits_where_two_values_differ(a, b, want):
    assert format_pair(a, b) == want


def test_format_pair_of_neighbouring_floats_differs():
    a = 14.2761
    b = float(np.nextafter(a, 20.0))
    got, want = format_pair(a, b)
    assert got != want and float(got) == a and float(want) == b


def test_an_infinity_is_close_only_to_the_same_infinity():
    from harness.interface import Tolerance, within

    tol = Tolerance(rtol=0.1)  # |inf - 1| <= 0.1 * inf would hold: it must not pass
    got = within(np.array([np.inf, np.inf, -np.inf, 1.0]), np.array([1.0, np.inf, np.inf, 1.0]),
                 tol)
    assert got.tolist() == [False, True, False, True]
