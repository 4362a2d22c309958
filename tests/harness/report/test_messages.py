"""Text for humans (harness/report/_messages.py): numbers print as plain numbers whatever
numpy scalar type carries them (numpy >= 2 reprs a scalar as ``np.float64(2.83)``)."""

from __future__ import annotations

import pytest

pytest.importorskip("tabulate",
                    reason="install the report extra: pip install 'rnn-harness[report]'")

import re  # noqa: E402

import numpy as np  # noqa: E402

from harness.compare import compare_trajectories  # noqa: E402
from harness.interface import Tolerance, Trajectory  # noqa: E402
from harness.report import metric_table, regression_message  # noqa: E402


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_regression_message_prints_plain_numbers(dtype):
    expected = Trajectory("fake/numpy", "ci", {"loss": np.array([2.83, 2.5, 2.0], dtype)})
    obtained = Trajectory("fake/numpy", "ci", {"loss": np.array([2.83, 2.6, 2.2], dtype)})
    comp = compare_trajectories(obtained, expected, ["loss"],
                                {"default": Tolerance(rtol=np.float64(1e-6))})
    text = regression_message(comp, "golden/fake/numpy/ci", verbose=True)
    assert "np." not in text and "float64" not in text and "float32" not in text
    assert "first divergent epoch 1." in text
    assert re.search(r"^1 +2\.(?:6|59)\d* +2\.5 .* off$", text, re.M), text


def test_a_regression_only_in_an_observable_and_an_output_says_which_with_both_values():
    # what the CLI and the pytest plugin print when the tutorial's figure is bit-identical
    def run(param_norm, text):
        return Trajectory("fake/numpy", "ci",
                          {"loss": np.array([2.0, 1.5]), "param_norm": np.array(param_norm)},
                          outputs={"predictions": {"time": text}})
    tols = {"default": Tolerance(rtol=1e-6), "param_norm": Tolerance(rtol=1e-6),
            "output:predictions": Tolerance(rtol=0.0)}
    comp = compare_trajectories(run([3.0, 3.5], "time traveller"),
                                run([3.0, 3.25], "time travel"),
                                ["loss"], tols, observables=["param_norm"], outputs=True)
    text = regression_message(comp, "golden/fake/numpy/ci", verbose=True)
    assert "first divergent epoch 1." in text
    assert "first divergent: epoch 1: param_norm 3.5 vs golden 3.25" in text
    assert "param_norm: max abs error 0.25" in text  # its obtained-vs-expected table follows
    assert "output predictions['time'] differs at character 11" in text
    assert "loss: max abs error 0, max rel error 0" in text


def _one_run(loss):
    return Trajectory("fake/numpy", "ci", {"loss": np.array(loss, dtype=float)})


def test_a_row_off_its_tolerance_reads_off_and_only_nan_or_inf_reads_diverged():
    """Issue 20 s3: one word for "left its tolerance" (off), another for NaN/inf."""
    expected = _one_run([3.0, 2.5, 2.0, 1.5])
    comp = compare_trajectories(_one_run([3.0, 2.6, float("nan"), float("inf")]), expected,
                                ["loss"], {"default": Tolerance(rtol=1e-6)})
    table = metric_table(comp.metrics[0])
    status = {int(line.split()[0]): line.split()[-1] for line in table.splitlines()[2:]}
    assert status == {0: "ok", 1: "off", 2: "DIVERGED", 3: "DIVERGED"}, table


def test_the_default_message_is_short_and_verbose_tables_cover_every_epoch():
    """Issue 20 s3: the first divergence and the worst quantity by default; with verbose,
    a table row for every epoch the run has (it stopped at epoch 20 of 30)."""
    expected = _one_run(np.linspace(3.0, 1.0, 30))
    comp = compare_trajectories(_one_run(np.linspace(3.0, 1.0, 30) * 1.01), expected,
                                ["loss"], {"default": Tolerance(rtol=1e-6)})
    short = regression_message(comp, "golden/fake/numpy/ci")
    assert len(short.splitlines()) <= 6 and "-v` prints every epoch" in short, short
    # 1 % off under rtol 1e-6 of the larger side: 0.01 / 1.01e-6 = 9.9e+03 tolerances
    assert re.search(r"worst: loss at epoch \d+, 9\.9e\+03 x its tolerance", short), short
    full = regression_message(comp, "golden/fake/numpy/ci", verbose=True)
    epochs = [int(line.split()[0]) for line in full.splitlines() if line.endswith(" off")]
    assert epochs == list(range(30)), full
