"""Fake ports whose runs fail on purpose: one kills the process running it, one raises
(both only for ``BAD_SEED`` and only inside a child process, a pool or Dask worker, so a
test process is never killed); and one that is slow, to finish after the ports after it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterator

from harness.interface import EpochRecord
from harness.registry import PortEntry, Registry
from tests.fakes import FakeConfig, FakePort

BAD_SEED = 3


class KillerPort(FakePort):
    """Kills its own worker process (SIGKILL, as the OOM killer would) at epoch 2."""

    def build(self, config: FakeConfig, seed: int, device: str) -> None:
        super().build(config, seed, device)
        self.seed = seed

    def train(self) -> Iterator[EpochRecord]:
        for epoch, record in enumerate(super().train()):
            if epoch == 2 and self.seed == BAD_SEED and multiprocessing.parent_process():
                os.kill(os.getpid(), signal.SIGKILL)
            yield record


class CrashPort(KillerPort):
    """Raises inside training (a bug in the port) at epoch 2."""

    def train(self) -> Iterator[EpochRecord]:
        for epoch, record in enumerate(FakePort.train(self)):
            if epoch == 2 and self.seed == BAD_SEED:
                raise ZeroDivisionError("the port divided by zero")
            yield record


class SlowPort(FakePort):
    """The fake, taking ``SLOW_S`` longer in a child process: submitted first, it
    finishes after the ports submitted after it."""

    SLOW_S = 3.0

    def train(self) -> Iterator[EpochRecord]:
        if multiprocessing.parent_process():
            time.sleep(self.SLOW_S)
        yield from super().train()


def registry_of(cls: str) -> Registry:
    """A registry holding only ``fake/numpy`` implemented by ``cls`` of this module."""
    return Registry([PortEntry("fake", "numpy", "", f"tests.harness.sweep.workers:{cls}")],
                    {"fake": "tests.fakes:SPEC"})


def killer_registry() -> Registry:
    return registry_of("KillerPort")


def crash_registry() -> Registry:
    return registry_of("CrashPort")
