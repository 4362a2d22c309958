"""harness.check: one port's whole verdict as data, the seed envelope included when asked
(the band and the outcome test gate it; the single-seed golden informs)."""

from functools import partial

from harness.check import check
from harness.cli import main
from tests.harness.sweep.noisy import registry_of


def test_the_envelope_joins_the_verdict_when_asked(tmp_path):
    argv = ["--profile", "ci", "--golden-dir", str(tmp_path)]
    recorded = partial(registry_of, "NoisyPort")
    assert main(["record", "noisy/numpy", *argv], registry_factory=recorded) == 0
    assert main(["record", "noisy/numpy", "--seeds", "8", "--workers", "0", *argv],
                registry_factory=recorded) == 0
    plain = check("noisy/numpy", "ci", golden_dir=tmp_path, registry=recorded())
    assert plain.passed and plain.envelope is None
    both = check("noisy/numpy", "ci", golden_dir=tmp_path, registry=recorded(),
                 envelope=True)
    assert both.passed and both.envelope.passed
    shifted = check("noisy/numpy", "ci", golden_dir=tmp_path,
                    registry=registry_of("ShiftedPort"), envelope=True, write_obtained=False)
    assert shifted.code == 1 and not shifted.envelope.passed
