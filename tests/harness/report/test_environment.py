"""The reproduce block (harness/report/_environment.py): the data folder only for tutorials
that read one, named as a folder; a dirty tree said to be dirty."""

from __future__ import annotations

import pytest

pytest.importorskip("pandas", reason="install the report extra: pip install 'rnn-harness[report]'")

from dataclasses import replace  # noqa: E402

from harness.corpus import ENV_VAR, FILENAME  # noqa: E402
from harness.registry import PortEntry, Registry  # noqa: E402
from harness.report import collect_runs, reproduce_commands  # noqa: E402
from tests.fakes import SPEC  # noqa: E402

#: the fake's spec as one that reads a data file (char_rnn's corpus)
SPEC_DATA = replace(SPEC, needs_data=True)


def _commands(spec_attr: str, monkeypatch, commit: str = "0123456789ab") -> list[str]:
    from harness.report import _environment

    monkeypatch.setattr(_environment, "git_commit", lambda: commit)
    registry = Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakePort")],
                        {"fake": f"tests.harness.report.test_environment:{spec_attr}"})
    runs = collect_runs(["fake/numpy"], "ci", registry=registry, golden=None, pairs=[])
    return reproduce_commands(runs, registry)


def test_no_data_folder_line_for_tutorials_that_read_no_data(monkeypatch):
    commands = _commands("SPEC", monkeypatch)
    assert not [c for c in commands if ENV_VAR in c or FILENAME in c]


def test_the_data_line_names_the_folder_that_holds_the_corpus(monkeypatch):
    commands = _commands("SPEC_DATA", monkeypatch)
    (export,) = [c for c in commands if c.startswith(f"export {ENV_VAR}=")]
    assert not export.endswith(FILENAME)  # a folder, not the file
    comment = commands[commands.index(export) - 1]
    assert comment.startswith("# fake reads") and "FOLDER that holds it" in comment
    assert FILENAME in comment


def test_a_dirty_tree_is_said_to_be_dirty_before_its_checkout(monkeypatch):
    commands = _commands("SPEC", monkeypatch, commit="0123456789ab-dirty")
    checkout = commands.index("git checkout 0123456789ab")
    assert "DIRTY" in " ".join(commands[:checkout])
    assert all("-dirty" not in c for c in commands)


def test_a_clean_tree_gets_only_its_checkout(monkeypatch):
    commands = _commands("SPEC", monkeypatch)
    assert commands[0] == "git checkout 0123456789ab"
    assert not any("dirty" in c.lower() for c in commands)
