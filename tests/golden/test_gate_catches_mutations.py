"""The gate catches real edits of a port: a copy of reference_impls is mutated and
`rnn-harness check` is run on it against the committed goldens (must exit 1)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: (port, file under reference_impls, exact text, replacement, why it matters)
MUTATIONS = [
    pytest.param("elman_sine/torch", "elman_sine/torch_port.py", "lr = self.config.lr",
                 "lr = self.config.lr * 1.01", marks=pytest.mark.torch, id="elman_sine-torch-lr"),
    pytest.param("elman_sine/mxnet", "elman_sine/mxnet_port.py",
                 "lr, steps = self.config.lr,", "lr, steps = self.config.lr * 1.01,",
                 marks=pytest.mark.mxnet, id="elman_sine-mxnet-lr"),
    pytest.param("elman_sine/torch", "elman_sine/torch_port.py",
                 "context = context.detach()  # Variable(context_state.data)",
                 "pass", marks=pytest.mark.torch, id="elman_sine-torch-detach"),
]


def run_mutated(tmp_path, port_id, rel_file, old, new):
    shutil.copytree(ROOT / "reference_impls", tmp_path / "reference_impls")
    target = tmp_path / "reference_impls" / rel_file
    text = target.read_text()
    assert text.count(old) == 1, f"mutation anchor not found once in {rel_file}: {old!r}"
    target.write_text(text.replace(old, new))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    cmd = [sys.executable, "-m", "harness", "check", port_id, "--profile", "ci",
           "--golden-dir", str(tmp_path / "golden")]
    shutil.copytree(ROOT / "golden", tmp_path / "golden")
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)


@pytest.mark.parametrize("port_id, rel_file, old, new", MUTATIONS)
def test_check_fails_on_a_mutated_port(tmp_path, port_id, rel_file, old, new):
    result = run_mutated(tmp_path, port_id, rel_file, old, new)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "first divergent epoch" in result.stderr or "raised" in result.stderr


@pytest.mark.torch
def test_lr_change_names_the_first_divergent_epoch(tmp_path):
    result = run_mutated(tmp_path, "elman_sine/torch", "elman_sine/torch_port.py",
                         "lr = self.config.lr", "lr = self.config.lr * 1.01")
    assert result.returncode == 1
    # the epoch the message names is the one an in-process comparison finds
    from dataclasses import replace

    from harness.checking import load_golden
    from harness.compare import compare_trajectories
    from harness.golden import GoldenStore
    from harness.runner import run_port
    from reference_impls.elman_sine import spec

    drifted = run_port("elman_sine/torch", "ci",
                       config=replace(spec.PROFILES["ci"], lr=spec.PROFILES["ci"].lr * 1.01))
    golden = load_golden(GoldenStore(ROOT / "golden"), "elman_sine/torch", "ci")
    epoch = compare_trajectories(drifted, golden, ["loss"], spec.TOLERANCES).first_divergent_epoch
    assert epoch is not None
    assert f"first divergent epoch {epoch}." in result.stderr
