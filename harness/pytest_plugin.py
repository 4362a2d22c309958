"""pytest plugin (``pytest11`` entry point): golden fixture, ``--update-golden``, markers.

Imports no framework: a test marked ``torch``/``mxnet`` skips, naming the extra to
install, when that framework is absent; ``cuda`` tests skip when no CUDA device exists.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.backends import FRAMEWORKS, framework_available
from harness.golden import GoldenStore
from harness.interface import Trajectory
from harness.registry import default_registry

MARKERS = {
    "torch": "needs PyTorch (extra: torch)",
    "mxnet": "needs MXNet (extra: mxnet)",
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
                    help="golden store root (default: <rootdir>/golden)")


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
def golden_store(request: pytest.FixtureRequest) -> GoldenStore:
    """The golden store of this test session (``--golden-dir`` or ``<rootdir>/golden``)."""
    root = request.config.getoption("--golden-dir") or Path(request.config.rootpath, "golden")
    return GoldenStore(root)


@pytest.fixture
def golden_check(request: pytest.FixtureRequest, golden_store: GoldenStore
                 ) -> Callable[[Trajectory], None]:
    """``golden_check(trajectory)`` fails the test unless it matches its golden.

    With ``--update-golden`` the golden is rewritten and the test still fails, so the
    change is reviewed before it is committed.
    """
    from harness.checking import load_golden
    from harness.compare import compare_trajectories
    from harness.report import regression_message

    def check(traj: Trajectory) -> None:
        __tracebackhide__ = True
        if request.config.getoption("--update-golden"):
            path = golden_store.write(traj)
            pytest.fail(f"golden rewritten at {path}; review `git diff` and commit with a "
                        "message saying why the numbers moved")
        registry = default_registry()
        spec = registry.spec(traj.tutorial)
        expected = load_golden(golden_store, traj.port_id, traj.profile, registry)
        comp = compare_trajectories(traj, expected, spec.metrics, spec.tolerances)
        if not comp.passed:
            golden_store.write(traj, obtained=True)
            pytest.fail(regression_message(comp, golden_store.path(traj.port_id, traj.profile)),
                        pytrace=False)

    return check
