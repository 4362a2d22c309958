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
from harness.report import regression_message  # noqa: E402


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_regression_message_prints_plain_numbers(dtype):
    expected = Trajectory("fake/numpy", "ci", {"loss": np.array([2.83, 2.5, 2.0], dtype)})
    obtained = Trajectory("fake/numpy", "ci", {"loss": np.array([2.83, 2.6, 2.2], dtype)})
    comp = compare_trajectories(obtained, expected, ["loss"],
                                {"default": Tolerance(rtol=np.float64(1e-6))})
    text = regression_message(comp, "golden/fake/numpy/ci")
    assert "np." not in text and "float64" not in text and "float32" not in text
    assert "first divergent epoch 1." in text
    assert re.search(r"^1 +2\.(?:6|59)\d* +2\.5 .*DIVERGED$", text, re.M), text


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
    text = regression_message(comp, "golden/fake/numpy/ci")
    assert "first divergent epoch 1." in text
    assert "first divergent: epoch 1: param_norm 3.5 vs golden 3.25" in text
    assert "param_norm: max abs error 0.25" in text  # its obtained-vs-expected table follows
    assert "output predictions['time'] differs at character 11" in text
    assert "loss: max abs error 0, max rel error 0" in text
