"""The pytest plugin's golden_check goes through the gate: the golden's seed, the CLI's
golden dir, and --update-golden rewriting (and still failing) until the golden matches;
the registry and golden dir come from configuration (fixture, ini options), and a fix
line names a command that can work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.check import default_golden_dir
from harness.cli import main
from harness.errors import CorpusError
from harness.pytest_plugin import GoldenCheck, require_data
from harness.registry import PortEntry, Registry, default_registry
from tests.fakes import FakePort, fake_registry

ROOT = Path(__file__).resolve().parents[2]

TESTS = '''
import pytest

from harness.runner import run_port
from tests import fakes


@pytest.fixture
def harness_registry():
    return getattr(fakes, "{registry}")()


def test_gate_trains_with_the_golden_seed(golden_check):
    assert golden_check.run("fake/numpy", "ci").obtained.meta["seed"] == 7


def test_a_run_with_the_golden_seed_passes(golden_check, harness_registry):
    golden_check(run_port("fake/numpy", "ci", seed=7, registry=harness_registry))
'''


def pytest_in(tmp_path, registry, *args):
    (tmp_path / "test_gated.py").write_text(TESTS.format(registry=registry))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--golden-dir", str(tmp_path / "golden"), *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True)


def test_a_golden_recorded_with_another_seed_passes_in_pytest_as_in_check(tmp_path):
    argv = ["record", "fake/numpy", "--profile", "ci", "--seed", "7",
            "--golden-dir", str(tmp_path / "golden")]
    assert main(argv, registry_factory=fake_registry) == 0
    result = pytest_in(tmp_path, "fake_registry")
    assert result.returncode == 0, result.stdout + result.stderr


def test_update_golden_rewrites_and_still_fails_then_passes(tmp_path):
    argv = ["record", "fake/numpy", "--profile", "ci", "--seed", "7",
            "--golden-dir", str(tmp_path / "golden")]
    main(argv, registry_factory=fake_registry)
    drifted = pytest_in(tmp_path, "drifted_registry")
    assert drifted.returncode == 1 and "first divergent epoch 1" in drifted.stdout
    rewritten = pytest_in(tmp_path, "drifted_registry", "--update-golden")
    assert rewritten.returncode == 1 and "golden rewritten" in rewritten.stdout
    passed = pytest_in(tmp_path, "drifted_registry")
    assert passed.returncode == 0, passed.stdout


# ------------------------------------------------- configuration: ini registry, golden dir
INI = """[pytest]
pythonpath = .
rnn_harness_tutorials = fake_tables
rnn_harness_golden_dir = golden
"""
FAKE_TABLES = """
PORTS = (("fake", "numpy", "", "tests.fakes:FakePort"),)
SPECS = {"fake": "tests.fakes:SPEC"}
"""
CONFIGURED = '''
def test_fake(golden_check):
    golden_check.run("fake/numpy", "ci")
'''


def _configured_pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("RNN_HARNESS_GOLDEN", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *args], cwd=project, env=env, capture_output=True, text=True)


def test_ini_options_name_the_tables_and_golden_dir_and_the_fix_is_update_golden(tmp_path):
    (tmp_path / "pytest.ini").write_text(INI)
    (tmp_path / "fake_tables.py").write_text(FAKE_TABLES)
    (tmp_path / "test_configured.py").write_text(CONFIGURED)
    missing = _configured_pytest(tmp_path)
    assert missing.returncode == 1
    assert "GoldenMissingError" in missing.stdout
    assert "pytest test_configured.py::test_fake --update-golden" in missing.stdout
    assert "rnn-harness record" not in missing.stdout  # the CLI cannot see fake/numpy
    rewritten = _configured_pytest(tmp_path, "--update-golden")
    assert rewritten.returncode == 1 and "golden rewritten" in rewritten.stdout
    assert (tmp_path / "golden" / "fake" / "numpy" / "ci" / "trajectory.csv").is_file()
    passed = _configured_pytest(tmp_path)
    assert passed.returncode == 0, passed.stdout


def test_the_fix_names_rnn_harness_record_only_where_the_cli_reaches_the_golden(tmp_path):
    text = "re-record with `rnn-harness record elman_sine/torch --profile ci`."
    here = GoldenCheck(False, default_golden_dir(), default_registry(), "t.py::test_x")
    assert here._fix_for_pytest(text, here._request("elman_sine/torch", "ci")) == text
    elsewhere = GoldenCheck(False, tmp_path, default_registry(), "t.py::test_x")
    assert elsewhere._fix_for_pytest(text, elsewhere._request("elman_sine/torch", "ci")) == \
        "re-record with `pytest t.py::test_x --update-golden`."


def test_a_relative_data_folder_is_absolute_from_start_up_for_every_test(tmp_path):
    (tmp_path / "test_env.py").write_text(
        "import os\n"
        "def test_env(tmp_path):\n"
        "    os.chdir(tmp_path)  # as a test that runs the CLI elsewhere would\n"
        f"    assert os.environ['RNN_HARNESS_DATA'] == {str(tmp_path / 'data')!r}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RNN_HARNESS_DATA": "data"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                            cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


class NoData(FakePort):
    """A port whose data file is missing (as char_rnn's corpus can be)."""

    def build(self, config, seed, device):
        raise CorpusError("The corpus file t.txt was not found.", context={"looked in": "/x"},
                          fix="put t.txt in $RNN_HARNESS_DATA.")


def test_require_data_skips_naming_the_fix_only_where_the_data_is_missing():
    missing = Registry([PortEntry("fake", "numpy", "", "tests.harness.test_pytest_plugin:NoData")],
                       {"fake": "tests.fakes:SPEC"})
    with pytest.raises(pytest.skip.Exception) as info:
        require_data("fake/numpy", registry=missing)
    assert str(info.value) == ("The corpus file t.txt was not found. (looked in: /x) "
                               "Fix: put t.txt in $RNN_HARNESS_DATA.")
    require_data("fake/numpy", registry=fake_registry())  # builds: nothing to skip
