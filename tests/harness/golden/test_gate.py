"""The gate: one seed rule (the golden's), initial weights beside every golden, and the
cross-environment check against another port's golden (``--against``), on numpy fakes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from harness import registry as registry_mod
from harness.check import default_golden_dir, gate, load_golden, record, record_initial, resolve
from harness.cli import main
from harness.errors import ConfigMismatchError, GoldenMissingError, UsageError
from harness.golden import INITIAL_FILE
from harness.interface import Tolerance
from harness.registry import PortEntry, Registry
from harness.runner import run_port
from tests.fakes import SPEC, fake_registry

#: The fake tutorial with a cross-framework tolerance: its weights are float64, stored as
#: float32, which moves the loss by ~1e-8 relative.
SPEC_CROSS = replace(SPEC, cross_framework={"default": Tolerance(rtol=1e-6)})


def cross_registry(checked: str = "FakePort", spec: str = "SPEC_CROSS") -> Registry:
    """``fake/numpy`` (the port checked) and ``fake/torch`` (whose golden it is checked
    against; torch is not installed in the unit env, and the check must not need it)."""
    return Registry([PortEntry("fake", "numpy", "", f"tests.fakes:{checked}"),
                     PortEntry("fake", "torch", "", "tests.fakes:FakePort")],
                    {"fake": f"tests.harness.golden.test_gate:{spec}"})


@pytest.fixture
def other_golden(tmp_path, monkeypatch):
    """A ci golden of fake/torch with seed 5, recorded as if torch were installed."""
    monkeypatch.setattr(registry_mod, "framework_available", lambda fw: True)
    record(resolve("fake/torch", "ci", golden_dir=tmp_path, registry=cross_registry()), seed=5)
    monkeypatch.undo()
    return tmp_path


def files(root):
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_golden_recorded_with_another_seed_is_checked_with_that_seed(tmp_path):
    req = resolve("fake/numpy", "ci", golden_dir=tmp_path, registry=fake_registry())
    record(req, seed=7)
    verdict = gate(req)
    assert verdict.passed and verdict.obtained.meta["seed"] == 7


def test_a_run_with_another_seed_than_the_golden_is_refused(tmp_path):
    req = resolve("fake/numpy", "ci", golden_dir=tmp_path, registry=fake_registry())
    record(req, seed=7)
    spec_seeded = run_port("fake/numpy", "ci", registry=fake_registry())
    with pytest.raises(ConfigMismatchError, match="its golden seed 7"):
        gate(req, obtained=spec_seeded)


def test_the_default_golden_dir_follows_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_HARNESS_GOLDEN", str(tmp_path))
    assert default_golden_dir() == tmp_path.resolve()
    assert resolve("fake/numpy", "ci", registry=fake_registry()).store.root == tmp_path.resolve()


def test_record_stores_the_initial_weights_the_golden_trained_from(tmp_path):
    reg = fake_registry()
    req = resolve("fake/numpy", "ci", golden_dir=tmp_path, registry=reg)
    record(req, seed=4)
    params, meta = req.store.read_initial("fake/numpy", "ci")
    port = reg.load("fake/numpy")
    port.build(SPEC.profile("ci"), 4, "cpu")
    assert params["w"].dtype == np.float32
    np.testing.assert_array_equal(params["w"], port.get_params()["w"].astype(np.float32))
    golden = load_golden(req)
    assert (meta["seed"], meta["config_hash"]) == (4, golden.meta["config_hash"])
    assert meta["exact"] is False  # the fake trains in float64


def test_initial_only_writes_the_initial_weights_and_nothing_else(tmp_path):
    req = resolve("fake/numpy", "ci", golden_dir=tmp_path, registry=fake_registry())
    record(req, seed=4)
    folder = req.golden_path
    (folder / INITIAL_FILE).unlink()
    before = files(tmp_path)
    record_initial(req)
    after = files(tmp_path)
    assert {p: b for p, b in after.items() if p in before} == before
    assert sorted(p.name for p in set(after) - set(before)) == [INITIAL_FILE]
    assert req.store.read_initial("fake/numpy", "ci")[1]["seed"] == 4


def test_check_against_another_ports_golden_starts_from_its_weights(other_golden):
    req = resolve("fake/numpy", "ci", golden_dir=other_golden, registry=cross_registry(),
                  against="fake/torch")
    verdict = gate(req)
    assert verdict.passed and verdict.obtained.meta["seed"] == 5
    assert verdict.obtained.meta["initial_params"] == "transferred"
    # the stored float32 weights, not the float64 ones fake/torch was seeded with
    assert 0 < verdict.comparison.max_rel_error < 1e-6


def test_check_against_catches_a_one_percent_lr_change_and_tags_the_obtained_files(
        other_golden):
    before = files(other_golden)
    req = resolve("fake/numpy", "ci", golden_dir=other_golden,
                  registry=cross_registry("DriftedFakePort"), against="fake/torch")
    verdict = gate(req)
    assert not verdict.passed and verdict.comparison.first_divergent_epoch == 1
    assert verdict.obtained_path == other_golden / "fake" / "numpy" / "ci"
    written = sorted(p.name for p in set(files(other_golden)) - set(before))
    assert written == ["meta.against-torch.obtained.json", "trajectory.against-torch.obtained.csv"]


def test_check_against_without_initial_weights_names_the_command(other_golden):
    (other_golden / "fake" / "torch" / "ci" / INITIAL_FILE).unlink()
    req = resolve("fake/numpy", "ci", golden_dir=other_golden, registry=cross_registry(),
                  against="fake/torch")
    with pytest.raises(GoldenMissingError,
                       match="rnn-harness record fake/torch --profile ci --initial-only"):
        gate(req)


def test_initial_weights_of_another_seed_are_refused(other_golden, monkeypatch):
    monkeypatch.setattr(registry_mod, "framework_available", lambda fw: True)
    reg = cross_registry()
    other = resolve("fake/torch", "ci", golden_dir=other_golden, registry=reg)
    golden = load_golden(other)
    other.store.write_initial("fake/torch", "ci", {"w": np.zeros(3)},
                              {**golden.meta, "seed": 6})
    req = resolve("fake/numpy", "ci", golden_dir=other_golden, registry=reg,
                  against="fake/torch")
    with pytest.raises(ConfigMismatchError, match="belong to another golden: their seed is 6"):
        gate(req)


@pytest.mark.parametrize("registry, against, needle", [
    (fake_registry, "fake/numpy", "states no cross-framework tolerance"),
    (cross_registry, "noisy/numpy", "No port is registered"),
])
def test_check_against_refuses_what_it_cannot_compare(tmp_path, registry, against, needle):
    with pytest.raises(UsageError, match=needle):
        resolve("fake/numpy", "ci", golden_dir=tmp_path, registry=registry(), against=against)


def cli(argv, root, registry):
    return main([*argv, "--golden-dir", str(root)], registry_factory=registry)


def test_cli_check_against_exits_0_then_1_for_a_drifted_port(other_golden, capsys):
    argv = ["check", "fake/numpy", "--profile", "ci", "--against", "fake/torch"]
    assert cli(argv, other_golden, cross_registry) == 0
    assert "against fake/torch" in capsys.readouterr().out
    assert cli(argv, other_golden, lambda: cross_registry("DriftedFakePort")) == 1
    assert "first divergent epoch 1" in capsys.readouterr().err


@pytest.mark.parametrize("argv, needle", [
    (["check", "--all", "--against", "fake/torch"], "takes no --all"),
    (["record", "fake/numpy", "--initial-only", "--seed", "3"], "takes no --seed"),
])
def test_cli_refuses_contradictory_flags(tmp_path, capsys, argv, needle):
    assert cli([*argv, "--profile", "ci"], tmp_path, cross_registry) == 2
    assert needle in capsys.readouterr().err and not files(tmp_path)


def test_cli_record_initial_only_keeps_the_golden_files(tmp_path, capsys):
    assert cli(["record", "fake/numpy", "--profile", "ci"], tmp_path, fake_registry) == 0
    folder = tmp_path / "fake" / "numpy" / "ci"
    golden = {n: (folder / n).read_bytes() for n in ("trajectory.csv", "meta.json")}
    (folder / INITIAL_FILE).unlink()
    assert cli(["record", "fake/numpy", "--profile", "ci", "--initial-only"], tmp_path,
               fake_registry) == 0
    assert {n: (folder / n).read_bytes() for n in golden} == golden
    assert (folder / INITIAL_FILE).exists()


SPEC_CROSS_CONFIG = replace(SPEC_CROSS, cross_config=lambda c: replace(c, diverge_at=99))


def test_check_against_notes_each_config_field_the_cross_config_changes(other_golden):
    plain = resolve("fake/numpy", "ci", golden_dir=other_golden, registry=cross_registry(),
                    against="fake/torch")
    assert gate(plain).notes == ()
    changed = resolve("fake/numpy", "ci", golden_dir=other_golden,
                      registry=cross_registry(spec="SPEC_CROSS_CONFIG"), against="fake/torch")
    verdict = gate(changed)
    assert verdict.passed and len(verdict.notes) == 1
    assert verdict.notes[0].startswith("config diverge_at: fake/torch's golden None, this run 99")
