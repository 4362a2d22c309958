"""pytest plugin (``pytest11`` entry point): golden fixture, ``--update-golden``, markers.

Imports no framework: a test marked ``torch``/``mxnet`` skips, naming the extra to
install, when that framework is absent; ``cuda`` tests skip when no CUDA device exists.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest

from harness.backends import FRAMEWORKS, framework_available
from harness.errors import HarnessError
from harness.golden import (
    GateRequest,
    GoldenStore,
    Verdict,
    default_golden_dir,
    gate,
    record,
    record_initial,
    recorded_seed,
    resolve,
)
from harness.interface import Trajectory
from harness.registry import Registry, default_registry

MARKERS = {
    "torch": "needs PyTorch (extra: torch)",
    "mxnet": "needs MXNet (extra: mxnet)",
    "jax": "needs JAX (extra: jax)",
    "cuda": "needs a CUDA device; skipped without one",
    "slow": "takes more than a few seconds (tutorial-length runs)",
    "cross_framework": "compares a tutorial's torch and MXNet ports",
    "fidelity": "compares a port with the original code it was ported from",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rnn-harness")
    group.addoption("--update-golden", action="store_true", default=False,
                    help="rewrite goldens from this run (the test still fails, for review)")
    group.addoption("--golden-dir", default=None,
                    help="golden store root (default: $RNN_HARNESS_GOLDEN, else the "
                    "repository's golden/, else ./golden: the CLI's default)")


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def _cuda_available() -> bool:
    # one framework at a time: importing a second one can change the first's threads
    for name, fw in FRAMEWORKS.items():
        if fw.backend is not None and framework_available(name):
            return bool(importlib.import_module(fw.backend).cuda_available())
    return False


def pytest_runtest_setup(item: pytest.Item) -> None:
    for framework, fw in FRAMEWORKS.items():
        module, extra = fw.module, fw.extra
        if item.get_closest_marker(framework) and importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: pip install 'rnn-harness[{extra}]' "
                        f"or run the `{extra}` tox env")
    if item.get_closest_marker("cuda") and not _cuda_available():
        pytest.skip("no CUDA device on this machine (CUDA cases run where a GPU exists)")


@pytest.fixture
def harness_registry() -> Registry:
    """The registry the golden fixtures resolve ports in; override this fixture in a
    ``conftest.py`` to gate ports registered elsewhere."""
    return default_registry()


@pytest.fixture
def golden_dir(request: pytest.FixtureRequest) -> Path:
    """``--golden-dir``, else the default the CLI uses too (``default_golden_dir``)."""
    option = request.config.getoption("--golden-dir")
    return Path(option) if option else default_golden_dir()


@pytest.fixture
def golden_store(golden_dir: Path) -> GoldenStore:
    """The golden store of this test session."""
    return GoldenStore(golden_dir)


class GoldenCheck:
    """What ``golden_check`` returns: every check goes through the gate, so a test and
    ``rnn-harness check`` train with the same (the golden's) seed and judge alike."""

    def __init__(self, update: bool, golden_dir: Path, registry: Registry):
        self.update, self.golden_dir, self.registry = update, golden_dir, registry

    def _request(self, port_id: str, profile: str, device: str = "cpu") -> GateRequest:
        return resolve(port_id, profile, device=device, golden_dir=self.golden_dir,
                       registry=self.registry)

    def __call__(self, traj: Trajectory) -> Verdict:
        """Fail the test unless ``traj`` (trained with the golden's seed) matches its golden."""
        __tracebackhide__ = True
        req = self._request(traj.port_id, traj.profile, str(traj.meta.get("device", "cpu")))
        if self.update:
            req.store.write(traj)
            record_initial(req)
            _rewritten(req.golden_path)
        return _judged(gate(req, obtained=traj))

    def run(self, port_id: str, profile: str, device: str = "cpu") -> Verdict:
        """Train ``port_id`` as ``rnn-harness check`` does and fail unless it matches."""
        __tracebackhide__ = True
        req = self._request(port_id, profile, device)
        if self.update:
            record(req, seed=_kept_seed(req))
            _rewritten(req.golden_path)
        return _judged(gate(req))


def _kept_seed(req: GateRequest) -> int | None:
    """The seed of the golden being rewritten (none yet, or unreadable: the spec's)."""
    try:
        return recorded_seed(req)
    except HarnessError:
        return None


def _rewritten(path: Path) -> None:
    __tracebackhide__ = True
    pytest.fail(f"golden rewritten at {path}; review `git diff` and commit with a message "
                "saying why the numbers moved")


def _judged(verdict: Verdict) -> Verdict:
    __tracebackhide__ = True
    if not verdict.passed:
        from harness.report import regression_message

        pytest.fail(regression_message(verdict.comparison, verdict.golden_path), pytrace=False)
    return verdict


@pytest.fixture
def golden_check(request: pytest.FixtureRequest, golden_dir: Path,
                 harness_registry: Registry) -> GoldenCheck:
    """``golden_check(trajectory)`` or ``golden_check.run(port_id, profile)`` fails the test
    unless the run matches its golden.

    With ``--update-golden`` the golden is rewritten and the test still fails, so the
    change is reviewed before it is committed.
    """
    return GoldenCheck(bool(request.config.getoption("--update-golden")), golden_dir,
                       harness_registry)
