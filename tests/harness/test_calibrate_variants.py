"""`rnn-harness calibrate --variants`: the run trained once per kernel variant, each in a
child process under the variant's environment, its noise judged beside the 1-ulp noise."""

from __future__ import annotations

import math
import os
from dataclasses import replace

from harness.calibrate import _variants, calibrate
from harness.cli import main
from harness.interface import Tolerance
from harness.registry import PortEntry, Registry
from tests.fakes import SPEC, FakePort

#: read once, at import, as a framework reads its kernel variables: only a process started
#: under the variable sees it
KERNEL_ENV = "RNN_HARNESS_TEST_FAKE_KERNEL"
_KERNEL_NOISE = float(os.environ.get(KERNEL_ENV, "0"))


class KernelPort(FakePort):
    """The fake whose "kernels" scale its loss by ``1 + $RNN_HARNESS_TEST_FAKE_KERNEL``."""

    def train(self):
        for record in super().train():
            loss = record.metrics["loss"] * (1 + _KERNEL_NOISE)
            yield replace(record, metrics={**record.metrics, "loss": loss})


SPEC_RTOL = 1e-9  # the fake spec's loss tolerance: 1e-12 passes it, 1e-6 does not
VARIANTS = {"quiet": {KERNEL_ENV: "1e-12"}, "loud": {KERNEL_ENV: "1e-6"}}


def kernel_registry() -> Registry:
    return Registry([PortEntry("fake", "numpy", "", "tests.harness.test_calibrate_variants:"
                               "KernelPort")], {"fake": "tests.fakes:SPEC"})


def test_each_variant_trains_in_a_child_process_under_its_environment():
    assert SPEC.tolerances["default"].rtol == SPEC_RTOL and _KERNEL_NOISE == 0
    cal = calibrate("fake/numpy", "ci", registry=kernel_registry(), variants=VARIANTS)
    loss = cal.quantity("loss")
    noise = {name: rel for name, rel, _, _ in loss.variants}
    # each child saw its own variable (this process, which imported the port, never did)
    assert math.isclose(noise["quiet"], 1e-12, rel_tol=1e-3), noise
    assert math.isclose(noise["loud"], 1e-6, rel_tol=1e-3), noise
    assert KERNEL_ENV not in os.environ
    assert cal.variants == ("quiet", "loud")
    assert loss.variant_noise is not None and loss.variant_noise[0] == "loud"
    # the 1-ulp noise passes the spec's rtol 1e-9; the loud variant's does not
    assert loss.noise_passes and loss.verdict == "TOO TIGHT: loud fails it"
    quiet = calibrate("fake/numpy", "ci", registry=kernel_registry(),
                      variants={"quiet": VARIANTS["quiet"]}).quantity("loss")
    assert quiet.verdict == "ok"


def test_the_cli_names_the_variant_and_proposes_a_tolerance_that_absorbs_it(monkeypatch,
                                                                             capsys):
    monkeypatch.setattr(_variants, "KERNEL_VARIANTS",
                        {"loud": (VARIANTS["loud"], ("numpy",), None),
                         "elsewhere": ({KERNEL_ENV: "1"}, ("torch",), None)})
    assert main(["calibrate", "fake/numpy", "--profile", "ci", "--variants"],
                registry_factory=kernel_registry) == 0
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if line.startswith("│ loss"))
    assert "1.0e-6 (loud)" in row and "TOO TIGHT: loud fails it" in row
    assert "kernel variants trained: loud\n" in text  # not the torch-only one
    block = text[text.index("# rnn-harness calibrate"):]
    assert "noise across kernel variants: 1.0e-6 (loud); 1-ulp noise: " in block
    assert "; signal of lr +0.1 %: " in block
    proposed = eval(block, {"Tolerance": Tolerance})["loss"]  # noqa: S307
    assert proposed.rtol > 1e-6


def test_variants_refuse_segments(capsys):
    assert main(["calibrate", "fake/numpy", "--segments", "--variants"],
                registry_factory=kernel_registry) == 2
    assert "--variants trains the --profile run" in capsys.readouterr().err
