"""examples/word_lm, used as docs/own-model.md says, from a copy of it: its goldens and
checkpoint segments pass unchanged (CLI and pytest plugin, and the port equals its
original.py); a changed dropout, clipping threshold, annealing factor or learning rate
fails at its first divergence through the CLI (the dropout change through the plugin too:
both compose one check, which tests/harness/report/test_one_verdict.py holds them to); and
`record` refuses a port whose restore is not exact. The CLI finds the copy's table and goldens through its [tool.rnn-harness]."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.interface import SpecPort
from harness.seeding import seed_everything

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.torch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "word_lm"
GOLDEN = Path("golden") / "word_lm" / "torch"
TUTORIAL_TEST = "tests/test_golden.py::test_tutorial_run_and_its_segments_match_their_golden"

#: change -> (file, original text, changed text, first divergent epoch of the run, the
#: segment that first leaves its golden, the quantity it leaves first)
CHANGES = {
    "dropout": ("word_lm/torch_port.py", "config.dropout,", "config.dropout + 0.05,", 0, 2,
                "loss"),
    "clipping": ("word_lm/spec.py", "ad.clip(config.clip)", "ad.clip(config.clip * 1.1)", 0,
                 2, "clipped"),
    # the first annealing is after epoch 1, so the run leaves its golden at epoch 2; in the
    # segments only the one from epoch 14 holds an annealing decision and the epoch after
    "annealing": ("word_lm/spec.py", "lr / config.anneal", "lr / (config.anneal / 2)", 2, 14,
                  "update_norm"),
    "lr x 1.001": ("word_lm/spec.py", "ad.update(lr)", "ad.update(lr * 1.001)", 0, 2,
                   "update_norm"),
}

#: The changes also run through the pytest plugin (each run there trains the tutorial again).
THROUGH_THE_PLUGIN = {"dropout"}

#: A port of word_lm whose dropout draws from a generator of its own, which no checkpoint
#: holds: restored from a checkpoint it draws the first epoch's masks again.
LEAKY_PORT = '''
import torch
from word_lm.torch_port import WordLmTorch


class PrivateDropout(torch.nn.Module):
    def __init__(self, p, generator):
        super().__init__()
        self.p, self.generator = p, generator

    def forward(self, x):
        if not self.training:
            return x
        keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=self.generator)
        return x * keep / (1 - self.p)


class LeakyWordLmTorch(WordLmTorch):
    port_id = "word_lm/torch-leaky"

    def build(self, config, seed, device, data):
        super().build(config, seed, device, data)
        self.module.drop = PrivateDropout(config.dropout, torch.Generator().manual_seed(seed))
'''


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("RNN_HARNESS_GOLDEN", "RNN_HARNESS_THREADS"):
        monkeypatch.delenv(name, raising=False)
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.obtained.*"))
    return pytester.path


def _cli(project: Path, *argv: str) -> tuple[int, str]:
    """`rnn-harness ARGV` run in the project folder: (exit code, stdout + stderr)."""
    env = {**os.environ, "COLUMNS": "250"}
    done = subprocess.run([sys.executable, "-m", "harness", *argv], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def _plugin(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=300)


def _goldens(project: Path) -> dict[str, str]:
    return {str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((project / "golden").rglob("*")) if p.is_file()}


def test_its_goldens_and_segments_pass_unchanged(pytester: pytest.Pytester, project: Path):
    before = _goldens(project)
    # --all in the project's folder: this project's ports only, none of the harness's own
    code, out = _cli(project, "check", "--all", "--profile", "tutorial")
    assert code == 0, out
    assert set(re.findall(r"│ (\w+/[\w-]+) +│", out)) == {"word_lm/torch"}, out
    assert re.search(r"word_lm/torch\s*│\s*tutorial segments\s*│\s*pass\s*│\s*7 x 2", out), \
        out
    # the ci and tutorial goldens through the plugin, and the port against original.py
    _plugin(pytester).assert_outcomes(passed=3)
    assert _goldens(project) == before


@pytest.mark.parametrize("change", list(CHANGES))
def test_an_injected_change_fails_at_its_first_divergence(pytester: pytest.Pytester,
                                                          project: Path, change: str):
    path, old, new, epoch, segment, quantity = CHANGES[change]
    source = project / path
    assert source.read_text().count(old) == 1
    source.write_text(source.read_text().replace(old, new))
    run_line = (f"Regression: word_lm/torch (tutorial) does not match its golden; first "
                f"divergent epoch {epoch}.")
    segment_line = re.compile(rf"first divergent: segment from epoch {segment}, epoch "
                              r"\d+ step \d+: " rf"{quantity} \S+ vs golden")

    code, out = _cli(project, "check", "word_lm/torch", "--profile", "tutorial")
    assert code == 1, out
    assert run_line in out, out
    assert segment_line.search(out), out
    if change not in THROUGH_THE_PLUGIN:
        return

    result = _plugin(pytester, TUTORIAL_TEST)
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert run_line in text, text
    # golden_check.run is the full check (segments included) since harness.check (issue 19)
    assert segment_line.search(text), text


def test_record_refuses_a_port_whose_restore_is_not_exact(project: Path):
    (project / "word_lm" / "leaky_port.py").write_text(LEAKY_PORT)
    table = project / "word_lm" / "__init__.py"
    row = '    ("word_lm", "torch", "", "word_lm.torch_port:WordLmTorch"),\n'
    assert table.read_text().count(row) == 1
    table.write_text(table.read_text().replace(
        row, row + '    ("word_lm", "torch", "leaky", "word_lm.leaky_port:LeakyWordLmTorch"),\n'))

    code, out = _cli(project, "record", "word_lm/torch-leaky", "--profile", "tutorial")
    assert code == 2, out
    assert "RestoreNotExactError" in out or "does not continue its run" in out, out
    assert re.search(r"quantity:\s+loss\b", out), out  # dropout: the first step's loss moves
    # no golden was written (record leaves at most the empty port folder)
    assert not [p for p in (project / GOLDEN.parent / "torch-leaky").rglob("*") if p.is_file()]


@pytest.mark.parametrize("optimizer", ["SGD", "Adam", "AdamW"])
def test_torch_adapter_checkpoints_restore_the_optimizer_exactly(monkeypatch: pytest.MonkeyPatch,
                                                                 optimizer: str):
    """TorchAdapter's optimizer state (SGD's momentum buffers, Adam's moments and step):
    word_lm's port with a stateful optimizer, restored from a checkpoint after epoch 1 into a
    fresh port, trains epoch 2 as the uninterrupted run did, bit for bit."""
    torch = pytest.importorskip("torch")
    monkeypatch.syspath_prepend(str(EXAMPLE))
    from word_lm import spec, torch_port

    options = {"SGD": {"momentum": 0.9, "dampening": 0.1}}.get(optimizer, {})

    class Port(torch_port.WordLmTorch):
        def build(self, config, seed, device, data):
            super().build(config, seed, device, data)
            self.optimizer = getattr(torch.optim, optimizer)(self.module.parameters(),
                                                             lr=config.lr, **options)

    config = dataclasses.replace(spec.PROFILES["ci"], epochs=2, lr=0.01)

    def built(seed: int) -> SpecPort:
        seed_everything(seed)  # the fresh port's global generators start elsewhere
        port = SpecPort(spec.SPEC, Port())
        port.build(config, spec.SPEC.default_seed, "cpu")
        return port

    port = built(0)
    epochs = port.train()
    next(epochs)
    checkpoint = port.checkpoint()
    assert any(k.startswith("opt/") for k in checkpoint.arrays)
    expected = next(epochs).metrics
    restored = built(1)
    restored.restore(checkpoint)
    assert next(restored.train()).metrics == expected
