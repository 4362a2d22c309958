"""A seed-batched twin stands in for its port only where it reproduces the port's first
seed bit for bit in the same run: a change made in the port alone is trained and judged,
not hidden behind the unchanged twin."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from harness.cli import main
from harness.golden import GoldenStore, read_envelope
from harness.registry import PortEntry, Registry
from harness.runner import run_port
from harness.sweep import LocalExecutor, check_envelopes, find_seed_batched, record_envelope
from tests.harness.sweep.noisy import NoisyPort

PACKAGE = "twinned_noisy"
#: every call of the twin below: the seeds it was asked to train
CALLS: list[list[int]] = []


def train_unchanged(config, seeds, device):
    """The twin: NoisyPort's losses for every seed at once (as a batched trainer would)."""
    CALLS.append(list(seeds))
    runs = []
    for seed in seeds:
        port = NoisyPort()
        port.build(config, seed, device)
        runs.append({"loss": port.losses().astype(np.float64)})
    return runs


@pytest.fixture
def twinned(tmp_path, monkeypatch):
    """``registry(cls)``: noisy/numpy as ``cls`` in a package whose
    ``numpy_batched_port`` module holds the unchanged twin, laid out as
    reference_impls/elman_sine/ is (``find_seed_batched`` finds it the same way)."""
    package = tmp_path / "pkgs" / PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "ports.py").write_text("from tests.harness.sweep.noisy import (  # noqa: F401\n"
                                      "    JitterPort, NoisyPort, ShiftedPort)\n")
    (package / "numpy_batched_port.py").write_text(
        "from tests.harness.sweep.test_envelope_twin import train_unchanged\n"
        "SEED_BATCHED = {'noisy/numpy': train_unchanged}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    yield lambda cls="NoisyPort": Registry(
        [PortEntry("noisy", "numpy", "", f"{PACKAGE}.ports:{cls}")],
        {"noisy": "tests.harness.sweep.noisy:SPEC"})
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]
    CALLS.clear()


@pytest.fixture
def store(tmp_path, twinned):
    """A golden and a 16-seed envelope of the unchanged port, the envelope by its twin."""
    root = tmp_path / "golden"
    assert main(["record", "noisy/numpy", "--golden-dir", str(root)],
                registry_factory=twinned) == 0
    env = record_envelope("noisy/numpy", "ci", GoldenStore(root), 16, registry=twinned(),
                          executor=LocalExecutor(0))
    assert "seed-batched twin" in env.meta["computation"]
    CALLS.clear()
    return GoldenStore(root)


def check(store, registry, cls, *extra):
    return main(["check", "noisy/numpy", "--envelope", "--workers", "0", *extra,
                 "--golden-dir", str(store.root)], registry_factory=lambda: registry(cls))


def test_the_fake_twin_is_found_as_elman_sines_is(twinned):
    assert find_seed_batched(twinned(), "noisy/numpy") is train_unchanged


def test_a_change_in_the_port_alone_fails_the_envelope_check_instead_of_passing(
        store, twinned, capsys):
    """ShiftedPort (every seed 10 % higher, the golden seed still inside the band) with its
    unchanged twin: the twin's seeds alone reproduce the envelope (p = 1, exit 0)."""
    assert check(store, twinned, "ShiftedPort") == 1
    captured = capsys.readouterr()
    body = " ".join(captured.out.split())
    assert "SHIFTED: shifted by +" in body and "by the port (twin differs)" in body
    assert "not used: its seed 0 differs from the port's in loss from epoch 0" in \
        " ".join(captured.err.split())


@pytest.mark.parametrize("cls, proven", [("NoisyPort", True), ("JitterPort", False),
                                         ("ShiftedPort", False)])
def test_the_twin_trains_the_seeds_only_where_it_equals_the_port(store, twinned, cls, proven):
    """The executor trains the first seed (the proof) and, where the twin differs, the
    other K - 1 too; the outcomes tested are the port's own, or the proven twin's."""
    trained = []
    checked = check_envelopes(["noisy/numpy"], "ci", store, registry=twinned(cls),
                              executor=LocalExecutor(0), seeds=4,
                              on_result=lambda job, _: trained.append(job.seed))
    res = checked["noisy/numpy"]
    assert CALLS == [[0, 1, 2, 3]] and res.twin.proven == proven
    assert trained == ([0] if proven else [0, 1, 2, 3])
    port = [run_port("noisy/numpy", "ci", seed=s, registry=twinned(cls)).metrics["loss"][-1]
            for s in range(4)]
    np.testing.assert_array_equal(res.outcomes.tests[0].new, port)  # loss final
    assert res.passed == (cls != "ShiftedPort")


def test_without_an_executor_the_port_trains_the_seeds_here_where_the_twin_differs(
        store, twinned):
    res = check_envelopes(["noisy/numpy"], "ci", store, registry=twinned("ShiftedPort"),
                          executor=None, seeds=4)["noisy/numpy"]
    port = [run_port("noisy/numpy", "ci", seed=s, registry=twinned("ShiftedPort"))
            .metrics["loss"][-1] for s in range(4)]
    assert not res.twin.proven and CALLS == [[0, 1, 2, 3]]
    np.testing.assert_array_equal(res.outcomes.tests[0].new, port)


def test_a_twin_that_differs_from_the_port_does_not_record_its_envelope(store, twinned):
    env = record_envelope("noisy/numpy", "ci", store, 4, registry=twinned("ShiftedPort"),
                          executor=LocalExecutor(0))
    assert env.meta["computation"].startswith("one run per seed (local executor); "
                                              "seed-batched twin")
    assert "not used" in env.meta["computation"]
    port = [run_port("noisy/numpy", "ci", seed=s, registry=twinned("ShiftedPort"))
            .metrics["loss"][-1] for s in range(4)]
    np.testing.assert_array_equal(read_envelope(store, "noisy/numpy", "ci")
                                  .outcomes["loss"]["final"], port)


def test_a_twin_that_raises_is_not_used_and_the_check_says_why(store, twinned, monkeypatch,
                                                               capsys):
    def broken(config, seeds, device):
        raise RuntimeError("bmm is not implemented here")

    monkeypatch.setattr(f"{PACKAGE}.numpy_batched_port.SEED_BATCHED",
                        {"noisy/numpy": broken})
    assert check(store, twinned, "NoisyPort", "--seeds", "4") == 0
    assert "not used: it raised RuntimeError: bmm is not implemented here" in \
        " ".join(capsys.readouterr().err.split())
