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
