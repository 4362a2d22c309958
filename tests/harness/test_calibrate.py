"""harness/calibrate.py: noise vs signal, judged against the tolerance of the profile."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from harness.calibrate import Calibration
from harness.cli import main
from harness.interface import Tolerance
from tests.fakes import SPEC, fake_registry


def test_verdicts_use_the_rtol_the_spec_gives_that_profile():
    spec = replace(SPEC, tolerances={"default": Tolerance(rtol=0.05)},
                   profile_tolerances={"ci": {"loss": Tolerance(rtol=2e-4)}})
    cal = Calibration("fake/numpy", "ci", {"loss": 1e-5}, {"loss": 3e-2},
                      {"loss": np.zeros(1)}, {"loss": np.zeros(1)})
    [verdict] = cal.verdicts(spec)
    assert verdict.rtol == 2e-4 and verdict.separates
    [tutorial] = replace(cal, profile="tutorial").verdicts(spec)
    assert tutorial.rtol == 0.05 and not tutorial.separates  # 0.05 misses a 3e-2 signal


def test_calibrate_cli_states_the_lr_change_and_refuses_one_outside_0_1(capsys):
    assert main(["calibrate", "fake/numpy", "--profile", "ci", "--lr-change", "0.02"],
                registry_factory=fake_registry) == 0
    assert "signal (lr +0.02)" in capsys.readouterr().out
    assert main(["calibrate", "fake/numpy", "--profile", "ci", "--lr-change", "2"],
                registry_factory=fake_registry) == 2
    err = capsys.readouterr().err
    assert "--lr-change must lie between 0 and 1" in err and "Traceback" not in err
