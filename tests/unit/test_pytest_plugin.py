"""The pytest plugin's golden_check goes through the gate: the golden's seed, the CLI's
golden dir, and --update-golden rewriting (and still failing) until the golden matches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.cli import main
from tests.fakes import fake_registry

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
