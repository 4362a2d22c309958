"""A port that hangs in a worker process, and a child process in its own session whose
leftover processes a test can count, for the interrupt and timeout tests.

``python -m tests.harness.sweep.stuck`` runs ``JOBS`` on a two-worker local pool and
prints a line per finished job, then what an interrupt left finished and unfinished.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from harness.interface import EpochRecord
from harness.registry import PortEntry, Registry
from harness.sweep import Job
from tests.fakes import FakePort

ROOT = Path(__file__).resolve().parents[3]
PLAIN = "tests.fakes:FakePort"
HANG = "tests.harness.sweep.stuck:HangPort"


class HangPort(FakePort):
    """Never finishes in a child process (a pool or Dask worker), as a deadlocked port
    would; in the test's own process it is the plain fake, so its golden can be recorded."""

    def train(self) -> Iterator[EpochRecord]:
        while multiprocessing.parent_process() is not None:
            time.sleep(60)
        yield from super().train()


def registry() -> Registry:
    """``fake/numpy`` (plain), ``fake/numpy-hang`` and ``fake/numpy-last`` (plain), in
    that order."""
    return Registry([PortEntry("fake", "numpy", "", PLAIN),
                     PortEntry("fake", "numpy", "hang", HANG),
                     PortEntry("fake", "numpy", "last", PLAIN)], {"fake": "tests.fakes:SPEC"})


#: On two workers: seed 0 of the plain port finishes, then both workers hang; the last job
#: never starts.
JOBS = [Job("fake/numpy", "ci", 0), Job("fake/numpy-hang", "ci", 0),
        Job("fake/numpy-hang", "ci", 1), Job("fake/numpy", "ci", 1)]


def session_processes(sid: int) -> list[int]:
    """The live (not zombie) processes of session ``sid`` (Linux: read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # ended meanwhile
            continue
        state, _ppid, _pgrp, session = stat.rpartition(")")[2].split()[:4]
        if state != "Z" and int(session) == sid:
            found.append(int(entry))
    return found


def left_behind(sid: int, within: float = 5.0) -> list[int]:
    """The processes of session ``sid`` still alive after up to ``within`` seconds."""
    deadline = time.monotonic() + within
    while (alive := session_processes(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Child:
    """A Python process in a session of its own (so its workers can be counted and, after
    the test, killed whatever happened); its stdout and stderr lines are collected."""

    def __init__(self, args: Sequence[str]) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        # Ctrl-C's default action, as a command started from a terminal has: a test session
        # started in the background of a non-interactive shell (`tox &`) inherits SIGINT
        # ignored, and a child would inherit that too and never see the tests' Ctrl-C
        self.proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True, preexec_fn=_default_sigint)
        self.lines: dict[str, list[str]] = {"out": [], "err": []}
        self.readers = [threading.Thread(target=self._read, args=(stream, self.lines[name]),
                                         daemon=True)
                        for name, stream in (("out", self.proc.stdout),
                                             ("err", self.proc.stderr))]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _read(stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line)

    def wait_for(self, stream: str, text: str, count: int = 1, timeout: float = 60) -> None:
        """Wait until ``count`` lines of ``stream`` contain ``text``."""
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.lines[stream]) < count:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {count} x {text!r} in {stream}: {self.output}")
            time.sleep(0.05)

    def stopped_within(self, seconds: float) -> float:
        """Seconds until the process ended (an AssertionError past ``seconds``)."""
        started = time.monotonic()
        try:
            self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {seconds} s after the signal: "
                                 f"{self.output}") from None
        for reader in self.readers:
            reader.join(5)
        return time.monotonic() - started

    @property
    def output(self) -> str:
        return "".join(self.lines["out"]) + "".join(self.lines["err"])

    def kill_all(self) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # its group: workers included
        for pid in session_processes(self.proc.pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()
        for reader in self.readers:
            reader.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def child(args: Sequence[str]) -> Iterator[Child]:
    """A ``Child``, killed with whatever it left behind when the test ends."""
    proc = Child(args)
    try:
        yield proc
    finally:
        proc.kill_all()


def main() -> int:
    from harness.sweep import LocalExecutor, SweepInterrupted

    def arrived(job: Job, outcome: object) -> None:
        print(f"done {job.label}", flush=True)

    try:
        LocalExecutor(2, timeout=None).run(JOBS, registry(), arrived)
    except SweepInterrupted as exc:
        print(f"finished: {[j.label for j in exc.finished]}", flush=True)
        print(f"unfinished: {[j.label for j in exc.unfinished]}", flush=True)
        return 128 + exc.signum
    return 0


if __name__ == "__main__":
    sys.exit(main())
