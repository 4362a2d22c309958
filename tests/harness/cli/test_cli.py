"""The CLI on the numpy fake: exit codes 0/1/2, messages that name the fix, goldens untouched."""

import pytest

from harness.cli import build_parser, main
from tests.fakes import changed_config_registry, drifted_registry, fake_registry


def run(argv, tmp_path, registry=fake_registry):
    return main([*argv, "--golden-dir", str(tmp_path)], registry_factory=registry)


def golden_bytes(tmp_path):
    return {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}


def test_record_then_check_passes(tmp_path, capsys):
    assert run(["record", "fake/numpy", "--profile", "ci"], tmp_path) == 0
    assert run(["check", "fake/numpy", "--profile", "ci"], tmp_path) == 0
    assert "pass" in capsys.readouterr().out


def test_check_all_runs_every_available_port(tmp_path, capsys):
    run(["record", "--all", "--profile", "ci"], tmp_path)
    assert run(["check", "--all", "--profile", "ci"], tmp_path) == 0
    assert "fake/numpy" in capsys.readouterr().out


def test_one_percent_lr_drift_is_a_regression_naming_the_epoch(tmp_path, capsys):
    run(["record", "fake/numpy", "--profile", "ci"], tmp_path)
    before = golden_bytes(tmp_path)
    assert run(["check", "fake/numpy", "--profile", "ci"], tmp_path, drifted_registry) == 1
    err = capsys.readouterr().err
    assert "first divergent epoch 1" in err and "loss 4.0972636 vs golden 4.110564" in err
    assert run(["check", "fake/numpy", "--profile", "ci", "-v"], tmp_path, drifted_registry) == 1
    err = capsys.readouterr().err  # -v: the obtained-vs-expected table of every epoch
    assert "first divergent epoch 1" in err and "obtained" in err and "expected" in err
    after = {p: b for p, b in golden_bytes(tmp_path).items() if ".obtained." not in p.name}
    assert after == before


def test_missing_golden_is_exit_2_with_the_record_command(tmp_path, capsys):
    assert run(["check", "fake/numpy", "--profile", "ci"], tmp_path) == 2
    assert "rnn-harness record fake/numpy --profile ci" in capsys.readouterr().err
    assert golden_bytes(tmp_path) == {}


def test_a_changed_config_is_a_regression_naming_each_changed_field(tmp_path, capsys):
    run(["record", "fake/numpy", "--profile", "ci"], tmp_path)
    assert run(["check", "fake/numpy", "--profile", "ci"], tmp_path, changed_config_registry) == 1
    err = capsys.readouterr().err
    assert "changed since its golden was recorded: epochs 4 -> 5" in err
    assert "config epochs: golden 4, now 5" in err


@pytest.mark.parametrize("argv, needle", [
    (["check", "fake/nope", "--profile", "ci"], "No port is registered as 'fake/nope'"),
    (["check", "fake/numpy", "--profile", "nightly"], "has no profile 'nightly'"),
    (["check", "--profile", "ci"], "Name the ports to run, or pass --all"),
    (["record", "fake/numpy", "--profile", "ci", "--device", "cuda"], "not available"),
    (["record", "fake/numpy", "--profile", "ci", "--device", "tpu"], "Unknown device"),
])
def test_bad_input_exits_2_with_a_message(tmp_path, capsys, argv, needle):
    assert run(argv, tmp_path) == 2
    err = capsys.readouterr().err
    assert needle in err and "Fix:" in err and "Traceback" not in err
    assert golden_bytes(tmp_path) == {}


def test_divergence_during_record_writes_nothing_and_exits_1(tmp_path, capsys):
    assert run(["record", "fake/numpy", "--profile", "diverges"], tmp_path) == 1
    assert "diverged" in capsys.readouterr().err and golden_bytes(tmp_path) == {}


@pytest.mark.parametrize("command", ["list", "record", "check", "calibrate"])
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([command, "--help"])
    assert info.value.code == 0
    assert "example" in capsys.readouterr().out


def test_skipped_ports_name_the_extra_with_its_brackets(tmp_path, capsys, monkeypatch):
    from harness import registry as registry_mod
    from harness.registry import PortEntry, Registry

    monkeypatch.setattr(registry_mod, "framework_available", lambda fw: fw == "numpy")

    def with_torch_port():
        return Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakePort"),
                         PortEntry("fake", "torch", "", "tests.fakes:FakePort")],
                        {"fake": "tests.fakes:SPEC"})

    run(["record", "fake/numpy", "--profile", "ci"], tmp_path, with_torch_port)
    assert run(["check", "--all", "--profile", "ci"], tmp_path, with_torch_port) == 0
    assert "pip install 'rnn-harness[torch]'" in capsys.readouterr().out
