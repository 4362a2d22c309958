"""Registry: lists without importing, refuses duplicates, names missing members and extras;
tables registered through the `rnn_harness.tutorials` entry points reach the CLI."""

import importlib.metadata
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from harness import registry as registry_mod
from harness.errors import FrameworkMissingError, RegistryError, UnknownPortError
from harness.registry import PortEntry, Registry, default_registry, registry_from_tables
from tests.fakes import fake_registry


def test_duplicate_port_id_shows_both_entries():
    reg = fake_registry()
    with pytest.raises(RegistryError, match="registered twice") as info:
        reg.register(PortEntry("fake", "numpy", "", "other.module:Thing"))
    assert "tests.fakes:FakePort" in str(info.value) and "other.module:Thing" in str(info.value)


def test_unknown_port_suggests_close_ids():
    with pytest.raises(UnknownPortError, match="did you mean: fake/numpy"):
        fake_registry().get("fake/nympy")


def test_port_without_protocol_member_is_named(monkeypatch):
    reg = Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakeConfig")],
                   {"fake": "tests.fakes:SPEC"})
    with pytest.raises(RegistryError, match="missing members: port_id, build, train"):
        reg.load("fake/numpy")


def test_missing_framework_names_the_extra(monkeypatch):
    monkeypatch.setattr(registry_mod, "framework_available", lambda fw: False)
    reg = Registry([PortEntry("fake", "torch", "", "tests.fakes:FakePort")],
                   {"fake": "tests.fakes:SPEC"})
    with pytest.raises(FrameworkMissingError, match=r"rnn-harness\[torch\]"):
        reg.load("fake/torch")


def test_listing_the_default_registry_imports_no_framework():
    code = ("import sys; from harness.registry import default_registry; "
            "r = default_registry(); ids = r.ids(); [r.spec(t) for t in r.tutorials()]; "
            "print(len(ids), 'torch' in sys.modules, 'mxnet' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n, torch_loaded, mxnet_loaded = out.stdout.split()
    assert int(n) >= 2 and torch_loaded == "False" and mxnet_loaded == "False"


# ------------------------------------------------------------------ tables and entry points
ROOT = Path(__file__).resolve().parents[2]
TOY_TABLE = '''
PORTS = (("toy", "numpy", "", "tests.harness.interface.toy:ToyAdapter"),)
SPECS = {"toy": "tests.harness.interface.toy:SPEC"}
'''


def _distribution(site: Path, name: str, entry_points: str, package: str = "",
                  table: str = "") -> None:
    """An installed distribution as importlib.metadata finds it on sys.path (a dist-info
    folder beside the package): what `pip install` leaves, without running pip."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[rnn_harness.tutorials]\n{entry_points}\n")
    if package:
        (site / package).mkdir()
        (site / package / "__init__.py").write_text(table)


def _harness(site: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "harness", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True)


def test_an_installed_distribution_s_ports_reach_the_cli_with_no_code_change(tmp_path):
    site = tmp_path / "site"
    _distribution(site, "toy-project", "toy = toy_tables", "toy_tables", TOY_TABLE)
    listed = _harness(site, tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    assert "toy/numpy" in listed.stdout and "elman_sine/torch" in listed.stdout
    golden = ["--profile", "ci", "--golden-dir", str(tmp_path / "golden")]
    recorded = _harness(site, tmp_path, "record", "toy/numpy", *golden)
    assert recorded.returncode == 0, recorded.stderr
    checked = _harness(site, tmp_path, "check", "toy/numpy", *golden)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_broken_entry_point_is_one_error_naming_distribution_and_target(tmp_path):
    site = tmp_path / "site"
    _distribution(site, "broken-project", "broken = no_such_module_here:TABLE")
    result = _harness(site, tmp_path, "list")
    assert result.returncode == 2
    assert "broken-project 1.0" in result.stderr
    assert "no_such_module_here:TABLE" in result.stderr and "ModuleNotFoundError" in result.stderr
    assert "Traceback" not in result.stderr and "Fix:" in result.stderr


def _table(**parts: object) -> types.SimpleNamespace:
    return types.SimpleNamespace(**parts)


def test_a_table_is_checked_for_shape():
    reg = Registry()
    with pytest.raises(RegistryError, match="malformed") as info:
        reg.add_table(_table(PORTS=(("toy", "numpy", "x:y"),), SPECS={"toy": "a:b"}), "`t`")
    assert "PORTS: missing, or not rows of four str" in str(info.value)
    with pytest.raises(RegistryError, match=r"SPECS: missing"):
        reg.add_table(_table(PORTS=()), "`t`")


def test_a_tutorial_registered_by_two_tables_names_both():
    reg = registry_from_tables(["tests.harness.test_registry:TOY"])
    with pytest.raises(RegistryError, match="Tutorial 'toy' is registered twice") as info:
        reg.add_table(TOY, "entry point `other = other` of other-project 2.0")
    assert "`tests.harness.test_registry:TOY`" in str(info.value)
    assert "other-project 2.0" in str(info.value)


def test_a_port_row_registered_twice_names_both_origins():
    reg = registry_from_tables(["tests.harness.test_registry:TOY"])
    with pytest.raises(RegistryError, match="registered twice") as info:
        reg.register(PortEntry("toy", "numpy", "", "elsewhere:Port", origin="`mine`"))
    assert "(`tests.harness.test_registry:TOY`)" in str(info.value) and "(`mine`)" in str(info.value)


def test_an_unknown_tutorial_is_a_usage_error_not_a_key_error():
    with pytest.raises(UnknownPortError, match="No tutorial is registered as 'my_sine'") as info:
        registry_from_tables(["tests.harness.test_registry:TOY"]).spec("my_sine")
    assert "known tutorials: toy" in str(info.value)


def test_a_spec_that_cannot_be_imported_names_its_target_and_origin():
    reg = registry_from_tables(["tests.harness.test_registry:BROKEN_SPEC"])
    with pytest.raises(RegistryError, match="spec of tutorial 'toy' cannot be imported") as info:
        reg.spec("toy")
    assert "tests.harness.interface.toy:NO_SUCH_SPEC" in str(info.value)
    assert "`tests.harness.test_registry:BROKEN_SPEC`" in str(info.value)


def test_a_table_target_that_cannot_be_imported_is_a_registry_error():
    with pytest.raises(RegistryError, match="cannot be loaded") as info:
        registry_from_tables(["no_such_module_here"])
    assert "ModuleNotFoundError" in str(info.value)


def test_the_default_registry_is_what_the_entry_points_register():
    origins = {e.origin for e in default_registry().entries()}
    assert origins == {f"entry point `rnn_harness = reference_impls` of rnn-harness "
                       f"{importlib.metadata.version('rnn-harness')}"}
    assert default_registry() is default_registry()  # built once


#: tables the tests above register (a module attribute, as an entry point names one)
TOY = _table(PORTS=(("toy", "numpy", "", "tests.harness.interface.toy:ToyAdapter"),),
             SPECS={"toy": "tests.harness.interface.toy:SPEC"})
BROKEN_SPEC = _table(PORTS=TOY.PORTS, SPECS={"toy": "tests.harness.interface.toy:NO_SUCH_SPEC"})
