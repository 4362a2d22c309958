"""Fixtures for the report tests: the numpy fake with a second port that drifts (1 % lr),
standing in for "the other framework" of a cross-framework pair."""

from __future__ import annotations

import pytest

from harness.golden import GoldenStore
from harness.registry import PortEntry, Registry
from harness.report_build import RunSet, collect_runs

PAIR = ("fake/numpy", "fake/numpy-drift")


def pair_registry() -> Registry:
    return Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakePort"),
                     PortEntry("fake", "numpy", "drift", "tests.fakes:DriftedFakePort")],
                    {"fake": "tests.fakes:SPEC"})


@pytest.fixture
def registry() -> Registry:
    return pair_registry()


@pytest.fixture
def store(tmp_path, registry) -> GoldenStore:
    """A golden store holding the fake's ci golden (the drift port has none)."""
    from harness.checking import record_port

    golden = GoldenStore(tmp_path / "golden")
    record_port("fake/numpy", "ci", golden, registry=registry)
    return golden


@pytest.fixture
def runs(registry, store) -> RunSet:
    return collect_runs(list(PAIR), "ci", registry=registry, golden=store, pairs=[PAIR])
