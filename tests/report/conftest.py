"""Fixtures for the report tests: the numpy fake with a second port that drifts (1 % lr),
standing in for "the other framework" of a cross-framework pair; and a spec that states its
throughput unit and its same-model config change, as a tutorial's spec does."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.golden import GoldenStore
from harness.interface import replace_config
from harness.registry import PortEntry, Registry
from harness.report import RunSet, collect_runs
from tests.fakes import SPEC

PAIR = ("fake/numpy", "fake/numpy-drift")
#: the fake's spec with a throughput unit and a cross-framework config change (half the data)
SPEC_STATED = replace(SPEC, items="samples", cross_config=lambda c: replace_config(c, n=8))


def record_golden(store: GoldenStore, port_id: str, registry: Registry,
                  seed: int | None = None) -> None:
    """Record ``port_id``'s ci golden into ``store`` through the gate's only writer."""
    from harness.golden import record, resolve

    record(resolve(port_id, "ci", golden_dir=store.root, registry=registry), seed=seed)


def stated_registry() -> Registry:
    return Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakePort"),
                     PortEntry("fake", "numpy", "drift", "tests.fakes:DriftedFakePort")],
                    {"fake": "tests.report.conftest:SPEC_STATED"})


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
    golden = GoldenStore(tmp_path / "golden")
    record_golden(golden, "fake/numpy", registry)
    return golden


@pytest.fixture
def runs(registry, store) -> RunSet:
    return collect_runs(list(PAIR), "ci", registry=registry, golden=store, pairs=[PAIR])
