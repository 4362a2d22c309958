"""``check --all`` on the process pool stops when told: Ctrl-C or a CI cancel (SIGTERM)
ends every worker within seconds, exits 128 + the signal and names the ports that
finished; an unreachable Dask scheduler is a usage error, not a traceback."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time

import pytest

from harness.cli import main
from tests.harness.sweep.stuck import child, left_behind, registry

CHECK = ("import sys; from harness.cli import main; from tests.harness.sweep.stuck import "
         "registry; sys.exit(main(sys.argv[1:], registry_factory=registry))")
linux = pytest.mark.skipif(not sys.platform.startswith("linux"),
                           reason="counts a session's processes in /proc (Linux)")


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    """Goldens of the three ports (fake/numpy-hang hangs only in a worker process)."""
    root = tmp_path_factory.mktemp("golden")
    argv = ["record", "--all", "--profile", "ci", "--golden-dir", str(root)]
    assert main(argv, registry_factory=registry) == 0
    return root


@linux
@pytest.mark.parametrize(("signum", "to", "code"), [
    (signal.SIGINT, "group", 130),  # Ctrl-C in a terminal: the whole process group
    (signal.SIGTERM, "parent", 143),  # a CI cancel: the parent only
], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_check_all_and_its_workers_and_names_the_finished_ports(
        golden, signum, to, code):
    argv = ["-c", CHECK, "check", "--all", "--profile", "ci", "--golden-dir", str(golden),
            "--workers", "2"]
    with child(argv) as check:
        # fake/numpy and fake/numpy-last finish; fake/numpy-hang never does
        check.wait_for("err", " done (", count=2)
        (os.killpg if to == "group" else os.kill)(check.proc.pid, signum)
        check.stopped_within(5)
        assert check.proc.returncode == code, check.output
        assert (f"Interrupted ({signal.Signals(signum).name}): stopped; every worker "
                "process was ended.\n  finished: fake/numpy, fake/numpy-last\n"
                "  not finished: fake/numpy-hang\nNo golden was changed.") in check.output
        assert "Traceback" not in check.output
        assert left_behind(check.proc.pid) == []


def test_an_unreachable_scheduler_exits_2_naming_it_and_the_fix(golden, capsys, monkeypatch):
    pytest.importorskip(
        "distributed", reason="install the dask extra: pip install 'rnn-harness[dask]'")
    monkeypatch.setattr("harness.sweep._dask.SCHEDULER_CONNECT_TIMEOUT_S", 1.0)
    started = time.monotonic()
    code = main(["check", "--all", "--profile", "ci", "--golden-dir", str(golden),
                 "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1"],
                registry_factory=registry)
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert code == 2, err
    assert "No Dask scheduler answered at tcp://127.0.0.1:1 within 1 s" in err
    assert "Fix: start one there" in err and "Traceback" not in err


def test_a_negative_timeout_is_refused_before_anything_runs(golden, capsys):
    assert main(["check", "--all", "--golden-dir", str(golden), "--timeout", "-5"],
                registry_factory=registry) == 2
    assert "--timeout -5 is out of range" in capsys.readouterr().err


def test_a_hung_port_times_out_as_its_own_row_and_exits_3(golden, capsys):
    code = main(["check", "--all", "--profile", "ci", "--golden-dir", str(golden),
                 "--workers", "2", "--timeout", "2"], registry_factory=registry)
    captured = capsys.readouterr()
    assert code == 3, captured.err
    assert "timed out after 2 s (--timeout): fake/numpy-hang (ci, default seed, cpu)" in (
        " ".join(captured.err.split()))
    (row,) = [line for line in captured.out.splitlines()
              if line.startswith("│ fake/numpy-hang")]
    assert "ERROR" in row
    assert multiprocessing.active_children() == []
