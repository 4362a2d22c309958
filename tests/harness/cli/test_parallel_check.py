"""``check --all`` (and ``report``) train ports on the executor: each port's rows and messages
come out in registry order whatever order the workers finish in, and the exit code is the
worst port's, as in a sequential run."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.registry import PortEntry, Registry

SPECS = {"fake": "tests.fakes:SPEC"}
PLAIN = "tests.fakes:FakePort"
#: (variant, implementation when checked); recorded from the plain fake for every variant.
PORTS = [("slow", "tests.harness.sweep.workers:SlowPort"), ("", PLAIN),
         ("drift", "tests.fakes:DriftedFakePort"), ("last", PLAIN)]
IDS = [f"fake/numpy-{v}" if v else "fake/numpy" for v, _ in PORTS]


def recording_registry() -> Registry:
    return Registry([PortEntry("fake", "numpy", v, PLAIN) for v, _ in PORTS], SPECS)


def checking_registry() -> Registry:
    return Registry([PortEntry("fake", "numpy", v, target) for v, target in PORTS], SPECS)


def killing_registry() -> Registry:
    ports = [(v, "tests.harness.sweep.workers:KillerPort" if v == "drift" else t) for v, t in PORTS]
    return Registry([PortEntry("fake", "numpy", v, t) for v, t in ports], SPECS)


@pytest.fixture
def golden(tmp_path):
    argv = ["record", "--all", "--profile", "ci", "--golden-dir", str(tmp_path)]
    assert main(argv, registry_factory=recording_registry) == 0
    return tmp_path


def check(golden, registry, *extra):
    argv = ["check", "--all", "--profile", "ci", "--golden-dir", str(golden), *extra]
    return main(argv, registry_factory=registry)


def table_rows(out):
    """(port, status) of each table row, in printed order."""
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│") if c.strip()]
        if cells and cells[0] in IDS:
            rows.append((cells[0], cells[2]))
    return rows


def test_parallel_check_keeps_registry_order_and_the_worst_exit_code(golden, capsys):
    # the slow port is first: in two workers it finishes after the two ports behind it
    assert check(golden, checking_registry, "--workers", "2") == 1
    captured = capsys.readouterr()
    assert table_rows(captured.out) == [(IDS[0], "pass"), (IDS[1], "pass"),
                                        (IDS[2], "REGRESSION"), (IDS[3], "pass")]
    assert captured.err.count("first divergent epoch") == 1


def test_parallel_and_sequential_checks_print_the_same_rows_and_messages(golden, capsys):
    assert check(golden, checking_registry, "--workers", "1") == 1
    sequential = capsys.readouterr()
    assert check(golden, checking_registry) == 1  # default: one worker per core
    parallel = capsys.readouterr()
    assert table_rows(parallel.out) == table_rows(sequential.out)
    def messages(err: str) -> list[str]:  # progress lines differ in order and seconds
        return [line for line in err.splitlines()
                if "fake/numpy" in line and not line.startswith("progress: ")]

    assert messages(sequential.err) and messages(sequential.err) == messages(parallel.err)


def test_a_port_that_kills_its_worker_is_an_error_row_and_the_rest_still_pass(golden, capsys):
    assert check(golden, killing_registry, "--workers", "2") == 3  # a crash, not a moved number
    captured = capsys.readouterr()
    assert table_rows(captured.out) == [(IDS[0], "pass"), (IDS[1], "pass"),
                                        (IDS[2], "ERROR"), (IDS[3], "pass")]
    assert "WorkerDied" in captured.err and "fake/numpy-drift" in captured.err


def test_all_ports_pass_on_the_dask_executor_in_registry_order(golden, capsys,
                                                              dask_scheduler):
    assert check(golden, recording_registry, "--executor", "dask", "--scheduler",
                 dask_scheduler) == 0
    assert table_rows(capsys.readouterr().out) == [(i, "pass") for i in IDS]


def test_the_longest_checks_start_first_and_print_in_registry_order(golden, capsys,
                                                                    monkeypatch):
    from harness.cli import _gating
    from harness.sweep import LocalExecutor

    started: list[str] = []
    run = LocalExecutor.run

    def recording_run(self, jobs, *args, **kwargs):
        started.extend(job.port_id for job in jobs)
        return run(self, jobs, *args, **kwargs)

    monkeypatch.setattr(LocalExecutor, "run", recording_run)
    cost = {IDS[0]: 1.0, IDS[1]: 3.0, IDS[2]: 0.5, IDS[3]: 2.0}
    monkeypatch.setattr(_gating, "expected_seconds", lambda req, segments: cost[req.port_id])
    assert check(golden, checking_registry, "--workers", "2") == 1
    assert started == sorted(IDS, key=lambda p: -cost[p])
    assert [port for port, _ in table_rows(capsys.readouterr().out)] == IDS


def test_a_check_is_expected_to_take_its_golden_s_time(golden):
    from harness.check import resolve
    from harness.cli._gating import expected_seconds

    req = resolve(IDS[1], "ci", golden_dir=golden, registry=recording_registry())
    with (req.golden_path / "trajectory.csv").open() as f:
        header = f.readline().strip().split(",")
        wall = sum(float(line.split(",")[header.index("wall_s")]) for line in f)
    assert wall > 0 and expected_seconds(req, segments=False) == pytest.approx(wall)
    missing = resolve(IDS[1], "tutorial", golden_dir=golden, registry=recording_registry())
    assert expected_seconds(missing, segments=True) == 0.0
