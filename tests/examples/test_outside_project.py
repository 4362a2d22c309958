"""examples/outside_project, used as its README says, from a copy of it: the whole life of
a golden through the pytest plugin (fail -> --update-golden rewrites and still fails ->
pass -> a 1 % learning-rate change fails at the first divergent epoch), and its
entry point reaching the CLI. Nothing is pip-installed: the project's ini options name its
table and golden folder, and "installed" is a dist-info folder on PYTHONPATH, which is
all importlib.metadata reads of an installed distribution."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.interface import Tolerance, within

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "outside_project"
GOLDEN = Path("golden") / "my_sine" / "numpy" / "ci"
LR = ("        lr = self.config.lr\n", "        lr = self.config.lr * 1.01\n")
#: the example spec's loss tolerance (tests/examples must not import the example)
TOLERANCE = Tolerance(rtol=1e-9, atol=1e-12)


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("RNN_HARNESS_GOLDEN", raising=False)
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("golden", "__pycache__", "*.egg-info"))
    return pytester.path


def _losses(path: Path) -> list[float]:
    with open(path, newline="") as fh:
        return [float(row["loss"]) for row in csv.DictReader(fh)]


def test_a_golden_s_life_in_an_outside_project(pytester: pytest.Pytester, project: Path):
    def run() -> pytest.RunResult:
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=300)

    missing = run()
    missing.assert_outcomes(failed=1, passed=6)  # the invariant tests pass from the start
    out = missing.stdout.str()
    assert "GoldenMissingError" in out
    assert "`pytest tests/test_golden.py::test_ci_run_matches_its_golden --update-golden`" in out
    assert "rnn-harness record" not in out  # the CLI cannot see an uninstalled project

    rewritten = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--update-golden",
                                              timeout=300)
    rewritten.assert_outcomes(failed=1, passed=6)
    assert f"golden rewritten at {project / GOLDEN}" in rewritten.stdout.str()
    golden = {p.name: p.read_bytes() for p in (project / GOLDEN).iterdir()}
    assert {"trajectory.csv", "meta.json", "initial_params.npz"} <= set(golden)

    run().assert_outcomes(passed=7)

    port = project / "my_sine" / "numpy_port.py"
    assert port.read_text().count(LR[0]) == 1
    port.write_text(port.read_text().replace(*LR))
    drifted = run()
    drifted.assert_outcomes(failed=1, passed=6)
    match = re.search(r"Regression: my_sine/numpy \(ci\) does not match its golden; first "
                      r"divergent epoch (\d+)\.", drifted.stdout.str())
    assert match, drifted.stdout.str()
    # the epoch named is the first the obtained run (written beside the golden) leaves
    obtained = _losses(project / GOLDEN / "trajectory.obtained.csv")
    expected = _losses(project / GOLDEN / "trajectory.csv")
    inside = within(obtained, expected, TOLERANCE)
    assert int(match[1]) == list(inside).index(False)
    assert {p.name: p.read_bytes() for p in (project / GOLDEN).iterdir()
            if ".obtained." not in p.name} == golden  # a failed check changes no golden
    assert "--update-golden" in drifted.stdout.str()


def _install_metadata(project: Path, site: Path) -> None:
    """The dist-info `pip install` would write for the example: its name and its entry
    points, read from its own pyproject.toml."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library "
                                  "from Python 3.11")
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    info = site / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\n"
                                   f"Version: {meta['version']}\n")
    lines = [f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
             for group, points in meta["entry-points"].items()]
    (info / "entry_points.txt").write_text("\n".join(lines))


def test_the_installed_example_s_ports_reach_the_cli(project: Path, tmp_path: Path):
    _install_metadata(project, tmp_path / "site")
    env = {**os.environ, "COLUMNS": "200",
           "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(project)])}

    def harness(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "harness", *argv], cwd=project, env=env,
                              capture_output=True, text=True)

    listed = harness("list")
    assert listed.returncode == 0 and "my_sine/numpy" in listed.stdout, listed.stderr
    store = ["--profile", "ci", "--golden-dir", "golden"]
    assert harness("record", "my_sine/numpy", *store).returncode == 0
    checked = harness("check", "my_sine/numpy", *store)
    assert checked.returncode == 0, checked.stdout + checked.stderr
