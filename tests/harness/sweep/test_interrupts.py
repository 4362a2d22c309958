"""A local sweep stops when told: Ctrl-C ends its workers within seconds and says which
jobs finished, its workers die with it even when it is killed outright, and they ignore a
Ctrl-C themselves (the sweep alone decides what stops)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time

import pytest

from harness.sweep import Job, LocalExecutor
from tests.harness.sweep.stuck import child, left_behind, registry

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="counts a session's processes in /proc (Linux)")

SWEEP = ["-m", "tests.harness.sweep.stuck"]
#: From this job on both workers hang: the sweep would never end by itself.
FIRST_DONE = "done fake/numpy (ci, seed 0, cpu)"


@pytest.mark.parametrize("to", ["group", "parent"])
def test_sigint_ends_a_hung_sweeps_workers_within_seconds_and_names_what_finished(to):
    with child(SWEEP) as sweep:
        sweep.wait_for("out", FIRST_DONE)
        # Ctrl-C in a terminal signals the whole process group; `kill -INT` the parent only
        kill = os.killpg if to == "group" else os.kill
        kill(sweep.proc.pid, signal.SIGINT)
        sweep.stopped_within(5)
        assert sweep.proc.returncode == 130, sweep.output
        assert "finished: ['fake/numpy (ci, seed 0, cpu)']" in sweep.output
        assert ("unfinished: ['fake/numpy-hang (ci, seed 0, cpu)', 'fake/numpy-hang (ci, "
                "seed 1, cpu)', 'fake/numpy (ci, seed 1, cpu)']") in sweep.output
        assert "Traceback" not in sweep.output  # no worker printed a KeyboardInterrupt
        assert left_behind(sweep.proc.pid) == []


def test_workers_die_with_a_sweep_killed_outright():
    with child(SWEEP) as sweep:
        sweep.wait_for("out", FIRST_DONE)
        os.kill(sweep.proc.pid, signal.SIGKILL)  # no cleanup of its own can run
        sweep.stopped_within(5)
        assert left_behind(sweep.proc.pid) == []


def test_workers_ignore_ctrl_c_so_only_the_sweep_decides_what_stops():
    def ctrl_c_to_the_workers() -> None:  # as a terminal does, leaving the sweep out
        while not (workers := multiprocessing.active_children()):
            time.sleep(0.05)
        time.sleep(1.0)  # the hung job runs
        for worker in workers:
            os.kill(worker.pid, signal.SIGINT)

    threading.Thread(target=ctrl_c_to_the_workers, daemon=True).start()
    hung = Job("fake/numpy-hang", "ci", 0)
    result = LocalExecutor(1, timeout=3).run([hung], registry())
    assert result.failures[hung].error == "Timeout"  # alive until the sweep stopped it
    assert multiprocessing.active_children() == []
