"""pytest plugin (``pytest11`` entry point): golden fixture, ``--update-golden``, markers.

Which ports and goldens a session sees comes from configuration: the ``harness_registry``
fixture (override it in a ``conftest.py``), else the ``rnn_harness_tutorials`` ini option
(tables to register, for a project that is not installed), else every table installed
under the ``rnn_harness.tutorials`` entry points; goldens live in ``--golden-dir``, else the
``rnn_harness_golden_dir`` ini option, else the CLI's default.

Imports no framework: a test marked ``torch``/``mxnet`` skips, naming the extra to
install, when that framework is absent; ``cuda`` tests skip when no CUDA device exists.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import NoReturn

import pytest

from harness import corpus
from harness.backends import FRAMEWORKS, framework_available
from harness.check import (
    CheckResult,
    GateRequest,
    check_request,
    default_golden_dir,
    record_golden,
    record_initial,
    recorded_seed,
    resolve,
)
from harness.errors import (
    ConfigChangedError,
    CorpusError,
    DivergenceError,
    GoldenError,
    HarnessError,
    RegressionError,
)
from harness.golden import GoldenStore, record_command, record_initial_command
from harness.interface import Trajectory
from harness.registry import Registry, default_registry, registry_from_tables

TUTORIALS_INI = "rnn_harness_tutorials"
GOLDEN_DIR_INI = "rnn_harness_golden_dir"

MARKERS = {
    "torch": "needs PyTorch (extra: torch)",
    "mxnet": "needs MXNet (extra: mxnet)",
    "jax": "needs JAX (extra: jax)",
    "cuda": "needs a CUDA device; skipped without one",
    "slow": "takes more than a few seconds (tutorial-length runs)",
    "cross_framework": "compares a tutorial's ports in two frameworks from the same weights "
                       "(torch with MXNet or JAX)",
    "fidelity": "compares a port with the original code it was ported from",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rnn-harness")
    group.addoption("--update-golden", action="store_true", default=False,
                    help="rewrite goldens from this run (the test still fails, for review)")
    group.addoption("--golden-dir", default=None,
                    help=f"golden store root (default: the {GOLDEN_DIR_INI} ini option, else "
                    "$RNN_HARNESS_GOLDEN, else the repository's golden/, else ./golden: "
                    "the CLI's default)")
    parser.addini(TUTORIALS_INI, type="linelist", default=[],
                  help="tutorial tables ('module' or 'module:attr' with PORTS and SPECS) to "
                  "gate instead of the installed rnn_harness.tutorials entry points")
    parser.addini(GOLDEN_DIR_INI, default="",
                  help="golden store root, relative to the ini file's folder")


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    # at start-up, before any test changes directory: a relative RNN_HARNESS_DATA becomes
    # absolute here and in the environment every child process inherits
    corpus.data_folder()


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


def require_data(port_id: str, profile: str = "ci", registry: Registry | None = None) -> None:
    """Skip the calling test, naming the fix, when ``port_id`` cannot read its data here
    (char_rnn without its corpus): the port is built here, the step that reads the data.
    For tests that train in a child process, where the ``CorpusError`` would arrive only
    as text."""
    registry = registry or default_registry()
    spec = registry.spec(registry.get(port_id).tutorial)
    try:
        registry.load(port_id).build(spec.profile(profile), spec.default_seed, "cpu")
    except CorpusError as exc:
        context = "; ".join(f"{key}: {value}" for key, value in exc.context.items())
        pytest.skip(f"{exc.summary} ({context}) Fix: {exc.fix}")


@pytest.fixture(scope="session")
def harness_registry(pytestconfig: pytest.Config) -> Registry:
    """The registry the golden fixtures resolve ports in: the ``rnn_harness_tutorials`` ini
    option's tables, else the installed entry points. Override this fixture in a
    ``conftest.py`` to gate ports registered elsewhere."""
    tables = pytestconfig.getini(TUTORIALS_INI)
    return registry_from_tables(tables) if tables else default_registry()


def _ini_folder(config: pytest.Config) -> Path:
    return config.inipath.parent if config.inipath is not None else config.rootpath


@pytest.fixture
def golden_dir(request: pytest.FixtureRequest) -> Path:
    """``--golden-dir``, else the ``rnn_harness_golden_dir`` ini option (relative to the ini
    file), else the default the CLI uses too (``default_golden_dir``)."""
    option = request.config.getoption("--golden-dir")
    if option:
        return Path(option).resolve()
    ini = request.config.getini(GOLDEN_DIR_INI)
    return (_ini_folder(request.config) / ini).resolve() if ini else default_golden_dir()


@pytest.fixture
def golden_store(golden_dir: Path) -> GoldenStore:
    """The golden store of this test session."""
    return GoldenStore(golden_dir)


class GoldenCheck:
    """What ``golden_check`` returns: every check is ``harness.check``'s, the one the CLI
    runs (the golden's seed and thread count, the profile's run, every checkpoint segment),
    so a test and ``rnn-harness check`` judge alike."""

    def __init__(self, update: bool, golden_dir: Path, registry: Registry, nodeid: str = "",
                 verbosity: int = 0):
        self.update, self.golden_dir, self.registry = update, golden_dir, registry
        self.nodeid, self.verbosity = nodeid, verbosity

    def _request(self, port_id: str, profile: str, device: str = "cpu") -> GateRequest:
        req = resolve(port_id, profile, device=device, golden_dir=self.golden_dir,
                      registry=self.registry)
        # refused here (UnsafePathError) when an id or profile holds '..', a separator or an
        # absolute path: nothing is read, trained or written outside the store
        req.store.path(req.port_id, req.profile)
        return req

    def __call__(self, traj: Trajectory, *, segments: bool = True) -> CheckResult:
        """Fail the test unless ``traj`` (trained with the golden's seed) matches its golden
        and the port's checkpoint segments replay within their tolerances."""
        __tracebackhide__ = True
        req = self._request(traj.port_id, traj.profile, str(traj.meta.get("device", "cpu")))
        if self.update:
            req.store.write(traj)
            record_initial(req)
            _rewritten(req.golden_path)
        return self._judged(req, traj, segments)

    def run(self, port_id: str, profile: str, device: str = "cpu", *,
            segments: bool = True) -> CheckResult:
        """Check ``port_id`` as ``rnn-harness check`` does (its run, then its segments;
        ``segments=False`` is ``--no-segments``) and fail unless everything passes."""
        __tracebackhide__ = True
        req = self._request(port_id, profile, device)
        if self.update:
            req = resolve(port_id, profile, device=device, golden_dir=self.golden_dir,
                          registry=self.registry, recording=True)  # this device kind's
            record_golden(req, seed=_kept_seed(req))
            _rewritten(req.golden_path)
        return self._judged(req, None, segments)

    def _judged(self, req: GateRequest, traj: Trajectory | None, segments: bool
                ) -> CheckResult:
        __tracebackhide__ = True
        result = check_request(req, obtained=traj, segments=segments)
        if result.skipped is not None:
            pytest.skip(f"{req.port_id}: {result.skipped}")
        for part in result.errors:
            error = part.error
            if isinstance(error, (RegressionError, DivergenceError, ConfigChangedError)):
                continue  # the numbers moved: failed below with the whole verdict
            if isinstance(error, GoldenError):
                self._retold(error, req)
            raise error
        if not result.passed:
            from harness.report import check_message

            verbose = self.verbosity > 0  # pytest -v: the per-quantity tables too
            pytest.fail(self._fix_for_pytest(check_message(result, verbose=verbose), req),
                        pytrace=False)
        return result

    def _retold(self, exc: GoldenError, req: GateRequest) -> NoReturn:
        """Re-raise ``exc`` with its fix in terms of this test where ``rnn-harness record``
        cannot reach the golden."""
        __tracebackhide__ = True
        fix = self._fix_for_pytest(exc.fix, req)
        if fix == exc.fix:
            raise exc
        # the same error type and context (callers may catch it), with the fix retold
        told = type(exc).__new__(type(exc))
        told.__dict__.update(vars(exc))
        told.fix = fix
        told.args = (told.render(),)
        raise told from None

    def _fix_for_pytest(self, text: str, req: GateRequest) -> str:
        """``text`` with its ``rnn-harness record`` commands replaced by this test run with
        ``--update-golden``, unless the CLI reaches this port and golden store: a port
        registered only for this session (ini option, fixture) or goldens kept elsewhere
        are out of the CLI's sight."""
        if self._cli_reaches(req):
            return text
        update = f"pytest {self.nodeid or '<this test>'} --update-golden"
        for command in (record_initial_command(req.golden_port, req.profile),
                        record_command(req.golden_port, req.profile)):
            text = text.replace(command, update)
        return text

    def _cli_reaches(self, req: GateRequest) -> bool:
        try:
            registered = default_registry().ids()
        except HarnessError:
            return False
        return req.golden_port in registered and req.store.root.resolve() == default_golden_dir()


def _kept_seed(req: GateRequest) -> int | None:
    """The seed of the golden being rewritten (none yet, or unreadable: the spec's)."""
    try:
        return recorded_seed(req)
    except HarnessError:
        return None


def _rewritten(path: Path) -> NoReturn:
    __tracebackhide__ = True
    pytest.fail(f"golden rewritten at {path}; review `git diff` and commit with a message "
                "saying why the numbers moved")


@pytest.fixture
def golden_check(request: pytest.FixtureRequest, golden_dir: Path,
                 harness_registry: Registry) -> GoldenCheck:
    """``golden_check(trajectory)`` or ``golden_check.run(port_id, profile)`` fails the test
    unless the run matches its golden.

    With ``--update-golden`` the golden is rewritten and the test still fails, so the
    change is reviewed before it is committed.
    """
    return GoldenCheck(bool(request.config.getoption("--update-golden")), golden_dir,
                       harness_registry, request.node.nodeid,
                       request.config.getoption("verbose"))
