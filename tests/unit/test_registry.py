"""Registry: lists without importing, refuses duplicates, names missing members and extras."""

import subprocess
import sys

import pytest

from harness import registry as registry_mod
from harness.errors import FrameworkMissingError, RegistryError, UnknownPortError
from harness.registry import PortEntry, Registry
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
