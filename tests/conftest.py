"""Hypothesis settings profiles, chosen with HYPOTHESIS_PROFILE (tox sets ``ci``), and the
rule that lets each tox env select its tests by marker: a test that needs a framework says
so with the framework's marker (``torch``, ``mxnet``, ``jax``)."""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# pytest-xdist's workers run with COLUMNS=80 in their environment (measured: a serial run
# has none), and the CLI's console takes its width from it, so a message the tests read
# would wrap where a CI log does not: every test sees the width a CI log gets.
if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get("COLUMNS") == "80":
    del os.environ["COLUMNS"]

settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

#: The frameworks a test may need, each a marker of the same name (tox.ini's envs select by it).
FRAMEWORKS = ("torch", "mxnet", "jax")


def _missing_named(reason: str) -> list[str]:
    """The frameworks that ``reason`` names and this interpreter lacks."""
    return [fw for fw in FRAMEWORKS
            if re.search(rf"\b{fw}\b", reason) and importlib.util.find_spec(fw) is None]


RULE = ("tox's framework envs select tests by marker, so this test would run nowhere: "
        "mark it (pytestmark = pytest.mark.{fw}, or marks= on its parameters)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A test that skips because a framework is missing must carry that framework's marker."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or call.excinfo is None or report.when == "teardown":
        return
    missing = _missing_named(str(call.excinfo.value))
    unmarked = [fw for fw in missing if item.get_closest_marker(fw) is None]
    if unmarked:
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} skips for want of {', '.join(unmarked)} but is not "
                           f"marked {', '.join(unmarked)}: " + RULE.format(fw=unmarked[0]))


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """The same for a module that skips as a whole (``importorskip`` at its top): its
    ``pytestmark`` must name the framework."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or not isinstance(collector, pytest.Module):
        return
    reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
    source = Path(collector.path).read_text(encoding="utf-8")
    unmarked = [fw for fw in _missing_named(reason) if f"pytest.mark.{fw}" not in source]
    if unmarked:
        report.outcome = "failed"
        report.longrepr = (f"{collector.nodeid} skips for want of {', '.join(unmarked)} but "
                           f"does not mark its tests {', '.join(unmarked)}: "
                           + RULE.format(fw=unmarked[0]))


# ------------------------------------------------------------------ one ci run per port
class CiRun:
    """A port's ci run as ``rnn-harness check`` trains it (the golden's seed and thread
    count), with the checkpoint the port held after each epoch (``checkpoints[k]``: after
    epoch k, as ``SpecPort.checkpoint()`` gives it)."""

    def __init__(self, port_id: str) -> None:
        from harness.check import resolve
        from harness.check._compose import golden_threads
        from harness.runner import start_port, train_started
        from harness.seeding import use_threads

        req = resolve(port_id, "ci")
        seed = req.store.read(port_id, "ci").meta["seed"]
        use_threads(golden_threads(req))
        started = start_port(port_id, "ci", seed=seed)
        self.checkpoints: dict = {}

        def keep(epoch: int, total: int, metrics: object) -> None:
            self.checkpoints[epoch] = started.port.checkpoint()

        self.trajectory = train_started(started, keep)


@pytest.fixture(scope="session")
def ci_run() -> Iterator[object]:
    """``ci_run(port_id)``: the port's ``CiRun``, trained once per test session (per xdist
    worker: tests that read it carry ``pytest.mark.xdist_group(port_id)``, so one worker
    runs them all). A missing corpus skips every test that asks, with its fix."""
    from harness.errors import CorpusError

    runs: dict[str, CiRun | CorpusError] = {}

    def get(port_id: str) -> CiRun:
        if port_id not in runs:
            try:
                runs[port_id] = CiRun(port_id)
            except CorpusError as exc:
                runs[port_id] = exc
        found = runs[port_id]
        if isinstance(found, CorpusError):
            pytest.skip(f"{found.summary} Fix: {found.fix}")
        return found

    yield get
