"""One check, three faces (issue 19): for the same golden and the same change, the CLI,
the pytest plugin and the report give the same verdict, failing at the same checkpoint
segments. The change: char_rnn's d2l gradient clipping removed (the prefix alone cannot
see it at the ci profile; only the segments whose golden clips can)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.pytest_plugin import require_data

pytest.importorskip("pandas", reason="the report needs its extra: pip install "
                    "'rnn-harness[report]' (the cross env has it)")
pytestmark = pytest.mark.torch

ROOT = Path(__file__).resolve().parents[3]
PORT = "char_rnn/torch-scratch"
CALL = "return grad_clipping(self._trainable(), theta)"
PLUGIN_TEST = f'''
def test_the_port_matches_its_golden(golden_check):
    golden_check.run("{PORT}", "ci")
'''


def failed_segments(text):
    text = " ".join(text.split())  # the console and pytest wrap long lines
    return sorted({int(m) for m in re.findall(r"segment from epoch (\d+)", text)
                   if f"first divergent: segment from epoch {m}" in text})


@pytest.fixture(scope="module")
def mutated(tmp_path_factory):
    """A copy of the tutorials with the clipping call removed, and the port's goldens."""
    require_data(PORT)
    root = tmp_path_factory.mktemp("mutated")
    shutil.copytree(ROOT / "reference_impls", root / "reference_impls")
    target = root / "reference_impls" / "char_rnn" / "torch_port.py"
    text = target.read_text()
    assert text.count(CALL) == 1
    target.write_text(text.replace(CALL, "return 0.0"))
    tutorial, port = PORT.split("/")
    shutil.copytree(ROOT / "golden" / tutorial / port, root / "golden" / tutorial / port)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(ROOT)])}
    return root, env


def test_cli_plugin_and_report_fail_the_removed_clipping_at_the_same_segments(mutated):
    root, env = mutated
    golden = ["--golden-dir", str(root / "golden")]
    cli = subprocess.run([sys.executable, "-m", "harness", "check", PORT, "--profile", "ci",
                          *golden], cwd=root, env=env, capture_output=True, text=True)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    expected = failed_segments(cli.stderr)
    assert expected, cli.stderr

    (root / "test_plugin.py").write_text(PLUGIN_TEST)
    plugin = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-p", "no:xdist", "test_plugin.py", *golden],
                            cwd=root, env=env, capture_output=True, text=True)
    assert plugin.returncode == 1, plugin.stdout + plugin.stderr
    assert failed_segments(plugin.stdout) == expected, plugin.stdout

    report = subprocess.run([sys.executable, "-m", "harness", "report", PORT, "--profile", "ci",
                             "--workers", "1", "--out", str(root / "report"), *golden],
                            cwd=root, env=env, capture_output=True, text=True)
    assert report.returncode == 0, report.stdout + report.stderr
    markdown = (root / "report" / "report.md").read_text()
    assert "REGRESSION" in markdown, markdown
    assert failed_segments(markdown) == expected[:1], markdown  # the first, as the CLI's first
