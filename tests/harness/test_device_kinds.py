"""Goldens per device kind (issue 21): the store holds a golden per kind (cpu in the plain
profile folder, others beside it as <profile>@<kind>); check picks the one of this run's
device kind and says which it used, falling back to cpu where its kind has none; record
for a new kind leaves the others alone; list shows every kind recorded. No GPU is needed:
the device kind is what a CUDA machine's backend would report (`cuda-sm90`)."""

import pytest

from harness.check import _request as _gate
from harness.cli import main
from harness.registry import PortEntry, Registry
from tests.fakes import FakePort


class AnyDevicePort(FakePort):
    """The fake, trained alike on any device (as a CUDA run would be, bits aside)."""

    def build(self, config, seed, device):
        super().build(config, seed, "cpu")


def registry():
    return Registry([PortEntry("fake", "numpy", "", "tests.harness.test_device_kinds:"
                               "AnyDevicePort")], {"fake": "tests.fakes:SPEC"})


@pytest.fixture
def on_h100(monkeypatch):
    monkeypatch.setattr(_gate, "framework_available", lambda framework: True)
    monkeypatch.setattr(_gate, "device_kind", lambda framework, device: "cuda-sm90")


def run(argv, tmp_path):
    return main([*argv, "--profile", "ci", "--golden-dir", str(tmp_path)],
                registry_factory=registry)


def files(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_each_device_kind_has_its_golden_and_check_says_which_it_used(tmp_path, on_h100,
                                                                      capsys, monkeypatch):
    assert run(["record", "fake/numpy"], tmp_path) == 0
    cpu = files(tmp_path / "fake" / "numpy" / "ci")
    assert run(["check", "fake/numpy", "--device", "cuda"], tmp_path) == 0
    assert "no cuda-sm90 golden of fake/numpy (ci) is recorded: checked against the cpu one" \
        in " ".join(capsys.readouterr().err.split())
    assert run(["record", "fake/numpy", "--device", "cuda"], tmp_path) == 0
    assert (tmp_path / "fake" / "numpy" / "ci@cuda-sm90" / "meta.json").is_file()
    assert files(tmp_path / "fake" / "numpy" / "ci") == cpu  # the cpu golden left alone
    capsys.readouterr()
    assert run(["check", "fake/numpy", "--device", "cuda"], tmp_path) == 0
    assert "checked against the cuda-sm90 golden" in " ".join(capsys.readouterr().err.split())
    monkeypatch.setenv("RNN_HARNESS_GOLDEN", str(tmp_path))
    assert main(["list"], registry_factory=registry) == 0
    assert "ci: cpu, cuda-sm90" in capsys.readouterr().out


def test_a_cpu_check_never_reads_another_kinds_golden(tmp_path, on_h100, capsys):
    assert run(["record", "fake/numpy", "--device", "cuda"], tmp_path) == 0
    assert run(["check", "fake/numpy"], tmp_path) == 2  # no cpu golden: not the cuda one
    assert "No golden is recorded" in capsys.readouterr().err
