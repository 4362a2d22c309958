"""A local sweep stops when told: Ctrl-C ends its workers within seconds and says which
jobs finished, and its workers die with it even when it is killed outright."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from tests.harness.sweep.stuck import child, left_behind

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
