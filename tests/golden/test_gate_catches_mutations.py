"""The gate catches real edits of a port: a copy of reference_impls is mutated and
`rnn-harness check` is run on it against the committed goldens (must exit 1)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.errors import EXIT_PORT_CRASH, EXIT_REGRESSION
from harness.pytest_plugin import require_data

ROOT = Path(__file__).resolve().parents[2]

#: (port, file under reference_impls, exact text, replacement, why it matters)
def _m(port_id, rel_file, old, new, what):
    framework = port_id.split("/")[1].split("-")[0]
    return pytest.param(port_id, rel_file, old, new, marks=getattr(pytest.mark, framework),
                        id=f"{port_id.replace('/', '-')}-{what}")


#: each must make check fail
MUTATIONS = [
    # a 0.1 % learning-rate change: the ci gate (prefix + checkpoint segments) catches it in
    # every port whose tutorial plans segments
    _m("elman_sine/torch", "elman_sine/torch_port.py", "lr, g1, g2 = self.config.lr,",
       "lr, g1, g2 = self.config.lr * 1.001,", "lr"),
    _m("elman_sine/mxnet", "elman_sine/mxnet_port.py", "lr = self.config.lr",
       "lr = self.config.lr * 1.001", "lr"),
    _m("rnn_windows/torch", "rnn_windows/torch_port.py", "lr=config.lr, betas",
       "lr=config.lr * 1.001, betas", "lr"),
    _m("rnn_windows/torch-last", "rnn_windows/torch_port.py", "lr=config.lr, betas",
       "lr=config.lr * 1.001, betas", "lr"),
    _m("rnn_windows/mxnet", "rnn_windows/mxnet_port.py", '"learning_rate": config.lr,',
       '"learning_rate": config.lr * 1.001,', "lr"),
    _m("rnn_windows/mxnet-last", "rnn_windows/mxnet_port.py", '"learning_rate": config.lr,',
       '"learning_rate": config.lr * 1.001,', "lr"),
    _m("sin_cos/torch", "sin_cos/torch_port.py", "lr=config.lr, betas",
       "lr=config.lr * 1.001, betas", "lr"),
    _m("sin_cos/mxnet", "sin_cos/mxnet_port.py", '"learning_rate": config.lr,',
       '"learning_rate": config.lr * 1.001,', "lr"),
    _m("char_rnn/torch-scratch", "char_rnn/torch_port.py", "param -= self.config.lr *",
       "param -= 1.001 * self.config.lr *", "lr"),
    _m("char_rnn/torch-concise", "char_rnn/torch_port.py",
       "torch.optim.SGD(self.net.parameters(), self.config.lr)",
       "torch.optim.SGD(self.net.parameters(), self.config.lr * 1.001)", "lr"),
    _m("char_rnn/mxnet-scratch", "char_rnn/mxnet_port.py", "lr, batch_size = self.config.lr, 1",
       "lr, batch_size = self.config.lr * 1.001, 1", "lr"),
    _m("char_rnn/mxnet-concise", "char_rnn/mxnet_port.py", '{"learning_rate": self.config.lr}',
       '{"learning_rate": self.config.lr * 1.001}', "lr"),
    # the hidden-state cut removed
    _m("elman_sine/torch", "elman_sine/torch_port.py",
       "return state.detach()  # Variable(context_state.data)", "return state", "detach"),
    _m("rnn_windows/torch", "rnn_windows/torch_port.py",
       "return hidden.detach()  # carried to the next window, graph cut", "return hidden",
       "detach"),
    _m("sin_cos/torch", "sin_cos/torch_port.py",
       "return h_state.data  # the article's h_state.data: carried on, graph cut",
       "return h_state", "detach"),
    _m("char_rnn/torch-scratch", "char_rnn/torch_port.py", "            s.detach_()\n",
       "            pass\n", "detach"),
    _m("char_rnn/torch-concise", "char_rnn/torch_port.py",
       "state.detach_()  # d2l: a tensor state", "pass  # d2l: a tensor state", "detach"),
    # the window length changed (a spec change: a regression naming the changed field)
    _m("rnn_windows/torch", "rnn_windows/spec.py", "seq_length: int = 5",
       "seq_length: int = 6", "window"),
]
#: mutations (by test id) whose check exits otherwise than a regression's
OTHER_EXITS = {
    # without the cut every torch port raises (a crash): the next step's backward reaches
    # the graph the previous step's backward freed
    **{f"{port}-detach": EXIT_PORT_CRASH for port in (
        "elman_sine-torch", "rnn_windows-torch", "sin_cos-torch", "char_rnn-torch-scratch",
        "char_rnn-torch-concise")},
}
#: mutations (by test id) whose message must name a changed config field, both values
CONFIG_CHANGES = {"rnn_windows-torch-window": "seq_length 5 -> 6"}


def run_mutated(tmp_path, port_id, rel_file, old, new, *, fail_fast=False):
    shutil.copytree(ROOT / "reference_impls", tmp_path / "reference_impls")
    target = tmp_path / "reference_impls" / rel_file
    text = target.read_text()
    assert text.count(old) == 1, f"mutation anchor not found once in {rel_file}: {old!r}"
    target.write_text(text.replace(old, new))
    # the mutated copy first, then this checkout's harness (not whichever one is installed)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    # -v: every failed segment is named (by default only the first, on one screen);
    # --fail-fast: where only the exit and the first failure matter, the check stops there
    cmd = [sys.executable, "-m", "harness", "check", port_id, "--profile", "ci",
           "--fail-fast" if fail_fast else "-v", "--golden-dir", str(tmp_path / "golden")]
    # only the checked port's goldens: char_rnn's checkpoints make the whole store ~100 MB
    tutorial, port = port_id.split("/")
    shutil.copytree(ROOT / "golden" / tutorial / port, tmp_path / "golden" / tutorial / port)
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)


@pytest.mark.parametrize("port_id, rel_file, old, new", MUTATIONS)
def test_check_fails_on_a_mutated_port(request, tmp_path, port_id, rel_file, old, new):
    require_data(port_id)  # char_rnn without its corpus: skip naming the fix (CorpusError)
    code = OTHER_EXITS.get(request.node.callspec.id, EXIT_REGRESSION)
    result = run_mutated(tmp_path, port_id, rel_file, old, new, fail_fast=True)
    assert result.returncode == code, result.stdout + result.stderr
    if request.node.callspec.id in CONFIG_CHANGES:  # the profile itself changed
        assert CONFIG_CHANGES[request.node.callspec.id] in " ".join(result.stderr.split())
    elif code == EXIT_PORT_CRASH:
        assert "raised" in result.stderr, result.stderr
    else:
        # the prefix names "first divergent epoch N"; a segment "first divergent: segment
        # from epoch K, epoch E step S: <quantity> ..."
        text = " ".join(result.stderr.split())  # the console wraps at its width
        assert ("first divergent epoch" in text
                or "first divergent: segment" in text), result.stderr


@pytest.mark.torch
def test_lr_change_names_the_first_divergent_epoch(tmp_path):
    result = run_mutated(tmp_path, "elman_sine/torch", "elman_sine/torch_port.py",
                         "lr, g1, g2 = self.config.lr,", "lr, g1, g2 = self.config.lr * 1.01,",
                         fail_fast=True)
    assert result.returncode == 1
    # the epoch the message names is the one an in-process comparison finds
    from dataclasses import replace

    from harness.check import gate, resolve
    from harness.runner import run_port
    from reference_impls.elman_sine import spec

    drifted = run_port("elman_sine/torch", "ci",
                       config=replace(spec.PROFILES["ci"], lr=spec.PROFILES["ci"].lr * 1.01))
    req = resolve("elman_sine/torch", "ci", golden_dir=ROOT / "golden")
    epoch = gate(req, obtained=drifted, write_obtained=False).comparison.first_divergent_epoch
    assert epoch is not None
    assert f"first divergent epoch {epoch}." in " ".join(result.stderr.split())


#: d2l's grad_clipping in a char_rnn port: (port, file, exact text) of the clipping call
CLIP_CALLS = [
    ("char_rnn/torch-scratch", "char_rnn/torch_port.py",
     "return grad_clipping(self._trainable(), theta)"),
    ("char_rnn/mxnet-scratch", "char_rnn/mxnet_port.py",
     "return _clip_arrays([p.grad for p in self._params()], theta)"),
]
#: what is done to the call: removed (the norm is still returned, nothing is rescaled), or
#: the threshold theta = 1 raised to 2
CLIP_EDITS = {"removed": lambda call: "return 0.0",
              "theta-2": lambda call: call.replace("theta)", "2.0)")}


def clip_cases():
    for port_id, rel_file, call in CLIP_CALLS:
        for what, edit in CLIP_EDITS.items():
            framework = port_id.split("/")[1].split("-")[0]
            yield pytest.param(port_id, rel_file, call, edit(call), what,
                               marks=getattr(pytest.mark, framework),
                               id=f"{port_id.replace('/', '-')}-clipping-{what}")


def first_clipped_steps(port_id):
    """Per stored segment of ``port_id``: (start, epoch, step) of its golden's first clipped
    step, or None where the golden never clips in that segment."""
    from harness.golden import GoldenStore, read_segments

    out = {}
    for seg in read_segments(GoldenStore(ROOT / "golden"), port_id, "tutorial"):
        clipped = np.flatnonzero(seg.steps["clipped"] == 1.0)
        out[seg.start] = None if clipped.size == 0 else (
            int(seg.steps["epoch"][clipped[0]]), int(seg.steps["step"][clipped[0]]))
    return out


@pytest.mark.parametrize("port_id, rel_file, old, new, what", list(clip_cases()))
def test_changed_clipping_names_the_epoch_and_the_clip_decision(tmp_path, port_id, rel_file,
                                                               old, new, what):
    """Issue 10: a removed clipping call, or theta 1 -> 2, fails the ci gate in exactly the
    checkpoint segments whose golden clips, each at its first clipped step, and the message
    shows the clip decision there (obtained vs golden); segments that never clip pass."""
    require_data(port_id)
    expected = first_clipped_steps(port_id)
    assert any(expected.values()), f"{port_id}: no stored segment clips, nothing to catch"
    result = run_mutated(tmp_path, port_id, rel_file, old, new)
    assert result.returncode == 1, result.stdout + result.stderr
    # the console wraps long lines: read the messages with whitespace normalised
    text = " ".join(result.stderr.split())
    failed = {int(m.group(1)): m.group(0) for m in re.finditer(
        r"first divergent: segment from epoch (\d+), .*?(?=first divergent|$)", text)}
    assert set(failed) == {s for s, first in expected.items() if first}, result.stderr
    flipped = 0
    for start, message in failed.items():
        epoch, step = expected[start]
        assert f"segment from epoch {start}, epoch {epoch} step {step}: " in message, message
        decision = re.search(r"clipped (\d) vs (golden )?(\d)", message)
        assert decision is not None, f"the clip decision is not shown: {message}"
        flipped += decision.group(1) != decision.group(3)
    # removed: every failing segment shows 0 vs golden 1; theta 2: at least one does (a
    # norm between 1 and 2), the others fail on the doubled update with clipped 1 vs 1
    if what == "removed":
        assert flipped == len(failed), result.stderr
    else:
        assert flipped >= 1, result.stderr


#: Edits that leave every per-epoch figure bit-identical and change only what the tutorial
#: shows after training (issue 10 s3): only the gate's comparison of the stored outputs
#: catches them. elman_sine's prediction pass fed the targets instead of the inputs.
OUTPUT_MUTATIONS = [
    _m(port_id, "elman_sine/spec.py", 'ad.forward({"x": loop.data["x"]})',
       'ad.forward({"x": loop.data["y"]})', "predict-on-targets")
    for port_id in ("elman_sine/torch", "elman_sine/mxnet")
]


@pytest.mark.parametrize("port_id, rel_file, old, new", OUTPUT_MUTATIONS)
def test_a_changed_output_fails_check_naming_it(tmp_path, port_id, rel_file, old, new):
    result = run_mutated(tmp_path, port_id, rel_file, old, new)
    assert result.returncode == 1, result.stdout + result.stderr
    text = " ".join(result.stderr.split())
    # every epoch still matches: the output alone fails, named with where and both values
    assert "first divergent" not in text, text
    assert re.search(r"output predictions\[0\] differs: \S+ vs golden \S+ \(rtol 0, atol "
                     r"[0-9.e-]+\)", text), text
