"""The thread policy: every run sets its threads, records them, and a check reproduces the
count its golden records unless --threads overrides it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace

import pytest

from harness import seeding
from harness.cli import main
from harness.errors import UsageError
from harness.registry import PortEntry, Registry
from harness.runner import run_port
from tests.fakes import FakeConfig, FakePort, fake_registry


@pytest.fixture(autouse=True)
def default_policy() -> Iterator[None]:
    """Each test starts and leaves the process at the default count, no override."""
    seeding.override_threads(None)
    yield
    seeding.override_threads(None)


class ThreadSensitivePort(FakePort):
    """The fake whose learning rate grows with the thread count in force: a stand-in for
    a port whose results depend on how many threads split its reductions."""

    def build(self, config: FakeConfig, seed: int, device: str) -> None:
        lr = config.lr * (1 + 0.01 * (seeding.current_threads() - 1))
        super().build(replace(config, lr=lr), seed, device)


def sensitive_registry() -> Registry:
    return Registry([PortEntry("fake", "numpy", "", "tests.harness.test_threads:"
                               "ThreadSensitivePort")], {"fake": "tests.fakes:SPEC"})


def cli(argv, root, registry=sensitive_registry):
    return main([*argv, "--golden-dir", str(root)], registry_factory=registry)


def recorded_meta(root):
    return json.loads((root / "fake" / "numpy" / "ci" / "meta.json").read_text())


def test_a_run_records_the_default_count_it_set():
    meta = run_port("fake/numpy", "ci", registry=fake_registry()).meta
    assert meta["threads"]["set"] == seeding.DEFAULT_THREADS == 1
    assert seeding.thread_env(1)["OMP_NUM_THREADS"] == "1"


def test_the_override_beats_the_count_a_golden_records():
    seeding.use_threads(3)
    assert seeding.current_threads() == 3
    seeding.override_threads(2)
    assert seeding.use_threads(3) == 2
    assert run_port("fake/numpy", "ci", registry=fake_registry()).meta["threads"]["set"] == 2
    seeding.override_threads(None)
    assert seeding.use_threads(None) == seeding.DEFAULT_THREADS


@pytest.mark.parametrize("meta, count", [
    ({"threads": {"set": 2, "torch_threads": 2}}, 2),
    ({"threads": {"torch_threads": 2, "cpu_count": 2}}, None),  # before the policy
    ({}, None),
    ({"threads": {"set": True}}, None),
])
def test_recorded_threads_reads_only_what_the_policy_set(meta, count):
    assert seeding.recorded_threads(meta) == count


@pytest.mark.parametrize("bad", [0, -1, "two"])
def test_a_bad_thread_count_is_a_usage_error(bad):
    with pytest.raises(UsageError, match="at least 1"):
        seeding.override_threads(bad)


def test_record_threads_2_records_2_and_check_reproduces_it(tmp_path, capsys):
    assert cli(["record", "fake/numpy", "--profile", "ci", "--threads", "2"], tmp_path) == 0
    assert recorded_meta(tmp_path)["threads"]["set"] == 2
    # no --threads: the check runs at the golden's 2 threads, so the sensitive port passes
    assert cli(["check", "fake/numpy", "--profile", "ci"], tmp_path) == 0
    assert cli(["check", "fake/numpy", "--profile", "ci", "--threads", "1"], tmp_path) == 1
    assert "first divergent epoch" in capsys.readouterr().err


def test_record_without_threads_records_the_default(tmp_path):
    assert cli(["record", "fake/numpy", "--profile", "ci"], tmp_path) == 0
    assert recorded_meta(tmp_path)["threads"]["set"] == seeding.DEFAULT_THREADS
    assert cli(["check", "fake/numpy", "--profile", "ci", "--threads", "2"], tmp_path) == 1


def test_threads_0_on_the_cli_exits_2(tmp_path, capsys):
    assert cli(["record", "fake/numpy", "--profile", "ci", "--threads", "0"], tmp_path) == 2
    assert "--threads" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.json"))


@pytest.mark.torch
def test_torch_runs_at_the_policy_count_and_record_it():
    torch = pytest.importorskip("torch", reason="install the torch extra")
    meta = run_port("elman_sine/torch", "ci").meta["threads"]
    assert meta["set"] == 1 and meta["torch_threads"] == 1 and torch.get_num_threads() == 1
    seeding.override_threads(2)
    meta = run_port("elman_sine/torch", "ci").meta["threads"]
    assert meta["set"] == 2 and meta["torch_threads"] == 2 and torch.get_num_threads() == 2


def in_fresh_process(code: str, *args: str) -> str:
    """stdout of ``code`` in a new interpreter: a framework's threads are fixed per process
    (MXNet's at import), so each count gets its own."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.torch
def test_torch_determinism_is_on_without_importing_the_compiler():
    pytest.importorskip("torch", reason="install the torch extra")
    code = ("import sys, torch; from harness.seeding import seed_everything; "
            "seed_everything(0); print(torch.are_deterministic_algorithms_enabled(), "
            "'torch._inductor' in sys.modules)")
    assert in_fresh_process(code).split() == ["True", "False"]


@pytest.mark.mxnet
@pytest.mark.parametrize("threads", ["1", "2"])
def test_mxnet_starts_with_the_policy_count(threads):
    pytest.importorskip("mxnet", reason="install the mxnet extra")
    code = ("import json, sys; from harness.seeding import override_threads, thread_info; "
            "from harness.runner import start_port; override_threads(int(sys.argv[1])); "
            "start_port('elman_sine/mxnet', 'ci'); print(json.dumps(thread_info()))")
    info = json.loads(in_fresh_process(code, threads).splitlines()[-1])
    assert info["set"] == int(threads) and info["mxnet_omp_threads"] == threads
    assert info["mxnet_worker_threads"] == "1" and info["mxnet_engine"] == "NaiveEngine"


@pytest.mark.mxnet
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc (Linux)")
def test_an_mxnet_run_is_one_thread():
    """The policy's one thread per run holds for MXNet too: its synchronous engine runs each
    op in the Python thread (MXNet's default engine adds worker threads: 6 OS threads in
    all at one OpenMP thread, measured), so a busy neighbour core cannot slow a second one."""
    pytest.importorskip("mxnet", reason="install the mxnet extra")
    code = ("import os; from harness.seeding import override_threads; "
            "from harness.runner import start_port; override_threads(1); "
            "start_port('elman_sine/mxnet', 'ci'); import mxnet as mx; "
            "mx.nd.dot(mx.nd.ones((64, 64)), mx.nd.ones((64, 64))).wait_to_read(); "
            "print(len(os.listdir('/proc/self/task')))")
    assert in_fresh_process(code).splitlines()[-1] == "1"


@pytest.mark.jax
@pytest.mark.parametrize("threads", ["1", "2"])
def test_xla_starts_with_the_policy_count(threads):
    pytest.importorskip("jax", reason="install the jax extra")
    code = ("import json, sys; from harness.seeding import override_threads; "
            "from harness.runner import run_port; override_threads(int(sys.argv[1])); "
            "from dataclasses import replace; from reference_impls.elman_sine import spec; "
            "t = run_port('elman_sine/jax', 'ci', config=replace(spec.PROFILES['ci'], epochs=1)); "
            "print(json.dumps(t.meta['threads']))")
    info = json.loads(in_fresh_process(code, threads).splitlines()[-1])
    assert f"intra_op_parallelism_threads={threads}" in info["xla_flags"].split()
    assert info["set"] == int(threads) and info["xla_single_threaded"] is (threads == "1")


#: The ci gate of a fast port of each framework, in a fresh process per thread count.
#: MXNet's case is slow: on the shared 2-core machine (load average 9.5) its ci run took
#: 22 s at one thread and 284 s at two (OpenMP threads waiting on a busy core), and its 14
#: checkpoint segments take over a minute more, so it gates the ci run only.
GATES = [pytest.param("elman_sine/torch", [], marks=pytest.mark.torch, id="elman_sine-torch"),
         pytest.param("elman_sine/jax", [], marks=pytest.mark.jax, id="elman_sine-jax"),
         pytest.param("elman_sine/mxnet", ["--no-segments"],
                      marks=[pytest.mark.mxnet, pytest.mark.slow], id="elman_sine-mxnet")]


@pytest.mark.parametrize("threads", ["1", "2"])
@pytest.mark.parametrize("port_id, extra", GATES)
def test_the_gate_passes_at_1_and_2_threads(port_id, extra, threads):
    pytest.importorskip(port_id.split("/")[1], reason="install the framework's extra")
    code = "import sys; from harness.cli import main; sys.exit(main(sys.argv[1:]))"
    out = in_fresh_process(code, "check", port_id, "--profile", "ci", "--threads", threads,
                           *extra)
    rows = [line for line in out.splitlines() if port_id in line]
    assert len(rows) == (1 if extra else 2) and all("pass" in row for row in rows)
