"""A run on another kind of device than its golden's that fails says so, and how to gate
that device (a golden of its kind, beside the cpu one); a pass, or a failure on the golden's device, says nothing of
devices (numpy toy port; ``gate`` is given the run, so no CUDA is needed)."""

from __future__ import annotations

from harness.check import gate, resolve
from tests.harness.golden.test_gate_observables import nudged, recorded, registry


def _device_notes(verdict):
    return [n for n in verdict.notes if n.startswith("device change")]


def test_a_failure_on_another_device_names_the_change_and_the_fix(tmp_path):
    cpu = recorded(tmp_path)
    on_cuda = resolve("toy/numpy", "ci", device="cuda", golden_dir=tmp_path,
                      registry=registry())
    verdict = gate(on_cuda, nudged(cpu, "loss", 2, 1.01), write_obtained=False)
    assert not verdict.passed
    note, = _device_notes(verdict)
    assert "recorded on cpu, this run is on cuda" in note
    assert "`rnn-harness record toy/numpy --profile ci --device cuda`" in note
    assert "--golden-dir" not in note  # the same store: the kind's golden sits beside


def test_no_device_note_on_a_pass_or_on_the_golden_s_device(tmp_path):
    cpu = recorded(tmp_path)
    on_cuda = resolve("toy/numpy", "ci", device="cuda", golden_dir=tmp_path,
                      registry=registry())
    assert gate(on_cuda, nudged(cpu, "loss", 2, 1.0), write_obtained=False).passed
    assert not _device_notes(gate(on_cuda, nudged(cpu, "loss", 2, 1.0),
                                  write_obtained=False))
    failed = gate(cpu, nudged(cpu, "loss", 2, 1.01), write_obtained=False)
    assert not failed.passed and not _device_notes(failed)
