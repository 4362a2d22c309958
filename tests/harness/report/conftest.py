"""Fixtures for the report tests: the numpy fake with a second port that drifts (1 % lr),
standing in for "the other framework" of a cross-framework pair; a spec that states its
throughput unit and its same-model config change, as a tutorial's spec does; and a set of
runs where every kind of failure happens at once (regression, divergence, crash)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.golden import GoldenStore
from harness.interface import Tolerance, replace_config
from harness.registry import PortEntry, Registry
from harness.report import RunSet, collect_runs
from tests.fakes import SPEC, FakeConfig, FakePort

PAIR = ("fake/numpy", "fake/numpy-drift")
#: the fake's spec with a throughput unit and a cross-framework config change (half the data)
#: the fake's spec with a cross-framework tolerance (the one rule the report judges pairs by)
SPEC_CROSS = replace(SPEC, cross_framework={"default": Tolerance(rtol=1e-9)})
SPEC_STATED = replace(SPEC_CROSS, items="samples",
                      cross_config=lambda c: replace_config(c, n=8))


def record_golden(store: GoldenStore, port_id: str, registry: Registry,
                  seed: int | None = None) -> None:
    """Record ``port_id``'s ci golden into ``store`` through the gate's only writer."""
    from harness.check import record, resolve

    record(resolve(port_id, "ci", golden_dir=store.root, registry=registry), seed=seed)


def stated_registry() -> Registry:
    return Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakePort"),
                     PortEntry("fake", "numpy", "drift", "tests.fakes:DriftedFakePort")],
                    {"fake": "tests.harness.report.conftest:SPEC_STATED"})


def pair_registry() -> Registry:
    return Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakePort"),
                     PortEntry("fake", "numpy", "drift", "tests.fakes:DriftedFakePort")],
                    {"fake": "tests.harness.report.conftest:SPEC_CROSS"})


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


class DivergingFakePort(FakePort):
    """The fake whose loss turns NaN at epoch 2 of any profile."""

    def build(self, config: FakeConfig, seed: int, device: str) -> None:
        super().build(replace(config, diverge_at=2), seed, device)


#: what the crashing port raises: markup of every kind a message may carry
CRASH_TEXT = "boom | <b>bold</b> [torch] *stars* `tick` np.float64(2.83)"


class CrashingFakePort(FakePort):
    """The fake whose training raises after its first epoch (a bug in the port)."""

    def train(self):  # type: ignore[no-untyped-def]
        for epoch, record in enumerate(super().train()):
            if epoch == 1:
                raise RuntimeError(CRASH_TEXT)
            yield record


FAILING = ("fake/numpy", "fake/numpy-drift", "fake/numpy-nan", "fake/numpy-crash")


def failing_registry(*, good: bool = False) -> Registry:
    """Four ports of the fake: a faithful one, then (unless ``good``, the registry that
    records their goldens) one with a 1 % lr change, one that diverges, one that crashes."""
    bad = {"drift": "tests.fakes:DriftedFakePort",
           "nan": "tests.harness.report.conftest:DivergingFakePort",
           "crash": "tests.harness.report.conftest:CrashingFakePort"}
    return Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakePort")]
                    + [PortEntry("fake", "numpy", v, "tests.fakes:FakePort" if good else target)
                       for v, target in bad.items()],
                    {"fake": "tests.harness.report.conftest:SPEC_CROSS"})


@pytest.fixture
def failing(tmp_path) -> tuple[RunSet, GoldenStore, Registry]:
    """Runs of ``FAILING`` against goldens of the faithful fake: pass, REGRESSION from epoch
    1, DIVERGED at epoch 2, ERROR after one epoch; the drifted port is also a follower
    (outside the cross-framework tolerance)."""
    store = GoldenStore(tmp_path / "golden")
    for port in FAILING:
        record_golden(store, port, failing_registry(good=True))
    registry = failing_registry()
    runs = collect_runs(list(FAILING), "ci", registry=registry, golden=store,
                        pairs=[("fake/numpy", "fake/numpy-drift")])
    return runs, store, registry
