"""Project-local configuration (issue 19): `[tool.rnn-harness]` in an outside project's
pyproject.toml puts its goldens in its own folder, registers its tables, and limits
`--all` to its ports; a port of another distribution never defaults into the harness's
own golden/."""

import sys
import textwrap

import pytest

from harness.check import default_golden_dir
from harness.cli import main
from harness.errors import UsageError
from harness.project import find_project
from harness.registry import PortEntry

TABLE = '''
from dataclasses import replace

from tests.fakes import SPEC as FAKE_SPEC, FakePort


class MinePort(FakePort):
    port_id = "mine/numpy"


SPEC = replace(FAKE_SPEC, name="mine")
PORTS = [("mine", "numpy", "", "mine_table:MinePort")]
SPECS = {"mine": "mine_table:SPEC"}
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "mine_table.py").write_text(TABLE)
    (root / "pyproject.toml").write_text(textwrap.dedent('''
        [project]
        name = "My_Proj"

        [tool.rnn-harness]
        golden-dir = "goldens"
        tutorials = ["mine_table"]
        '''))
    monkeypatch.chdir(root)
    monkeypatch.delenv("RNN_HARNESS_GOLDEN", raising=False)
    monkeypatch.syspath_prepend(str(root))
    yield root
    sys.modules.pop("mine_table", None)


def test_the_projects_goldens_land_in_its_own_folder_and_check_all_is_its_ports(
        project, capsys):
    assert main(["record", "mine/numpy", "--profile", "ci"]) == 0
    assert (project / "goldens" / "mine" / "numpy" / "ci" / "meta.json").is_file()
    assert main(["check", "--all", "--profile", "ci"]) == 0
    out = capsys.readouterr().out
    assert "mine/numpy" in out and "elman_sine" not in out


def test_check_all_takes_an_explicit_project(project, capsys):
    assert main(["record", "--all", "--project", "my-proj", "--profile", "ci"]) == 0
    assert main(["check", "--all", "--project", "nobody", "--profile", "ci"]) == 2
    assert "No port is registered by the project 'nobody'" in capsys.readouterr().err


def test_an_unknown_key_names_the_file_and_key(project, capsys):
    (project / "pyproject.toml").write_text('[tool.rnn-harness]\ngolden_dir = "g"\n')
    find_project.__globals__["load_project"].cache_clear()
    assert main(["check", "--all", "--profile", "ci"]) == 2
    err = capsys.readouterr().err
    assert "golden_dir" in err and "pyproject.toml" in err


def test_a_port_of_another_distribution_never_defaults_into_the_harness_store(
        tmp_path, monkeypatch):
    other = tmp_path / "other"
    other.mkdir()
    (other / "other_table.py").write_text("class OtherPort: ...\n")
    monkeypatch.syspath_prepend(str(other))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RNN_HARNESS_GOLDEN", raising=False)
    entry = PortEntry("other", "numpy", "", "other_table:OtherPort", origin="a test",
                      distribution="other-dist")
    with pytest.raises(UsageError, match=r"\[tool.rnn-harness\]"):
        default_golden_dir(entry)
    (other / "pyproject.toml").write_text('[tool.rnn-harness]\ngolden-dir = "g"\n')
    assert default_golden_dir(entry) == (other / "g").resolve()
