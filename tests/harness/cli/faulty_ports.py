"""Fake ports that fail the way real ones do (crash in training, lose their data, block
until told), for the CLI's fault tests; importable by the child processes they start."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

from harness.errors import CorpusError, CorpusUnavailableError
from harness.interface import EpochRecord
from harness.registry import PortEntry, Registry
from tests.fakes import FakeConfig, FakePort

#: what the crashing port raises: square brackets rich would take for markup
CRASH_TEXT = "bad [torch] shape [bold]3[/bold]"
#: the child process of a blocking record waits for this file (path in the environment)
RELEASE_ENV = "RNN_HARNESS_TEST_RELEASE"
STARTED_ENV = "RNN_HARNESS_TEST_STARTED"


class CrashingPort(FakePort):
    """Trains one epoch, then raises: a bug in the port."""

    def train(self) -> Iterator[EpochRecord]:
        for i, record in enumerate(super().train()):
            if i == 1:
                raise ValueError(CRASH_TEXT)
            yield record


class OverflowingPort(FakePort):
    """Trains one epoch, then its figure overflows (``math.exp`` of a loss that blew up,
    as a spec's perplexity does when a ReLU replaces a tanh): the numbers moved."""

    def train(self) -> Iterator[EpochRecord]:
        for i, record in enumerate(super().train()):
            if i == 1:
                math.exp(1e4)
            yield record


class NoCorpusPort(FakePort):
    """Cannot read its data here, as char_rnn without its corpus."""

    def build(self, config: FakeConfig, seed: int, device: str) -> None:
        raise CorpusError("The corpus file is missing.",
                          context={"RNN_HARNESS_DATA": "/nowhere"},
                          fix="set RNN_HARNESS_DATA to the folder holding timemachine.txt.")


class NoCorpusHerePort(FakePort):
    """Has no data on this machine and nothing configured to find it (char_rnn on a fresh
    clone without the corpus and offline)."""

    def build(self, config: FakeConfig, seed: int, device: str) -> None:
        raise CorpusUnavailableError("Could not download the corpus from http://x/t.txt.",
                                     context={"error": "offline"},
                                     fix="set RNN_HARNESS_DATA to the folder holding t.txt.")


class BlockingPort(FakePort):
    """Says it started training (a file), then waits until the test releases it."""

    def train(self) -> Iterator[EpochRecord]:
        Path(os.environ[STARTED_ENV]).write_text(str(os.getpid()))
        release = Path(os.environ[RELEASE_ENV])
        deadline = time.monotonic() + 60
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        yield from super().train()


def registry_of(**variants: str) -> Registry:
    """``fake/numpy`` plus ``fake/numpy-<variant>`` for each ``variant=Class`` here (or
    ``variant="module:attr"``; ``""`` is the plain FakePort, to record its golden)."""
    entries = [PortEntry("fake", "numpy", "", "tests.fakes:FakePort")]
    for variant, cls in variants.items():
        target = (cls if ":" in cls else f"tests.harness.cli.faulty_ports:{cls}" if cls
                  else "tests.fakes:FakePort")
        entries.append(PortEntry("fake", "numpy", variant, target))
    return Registry(entries, {"fake": "tests.fakes:SPEC"})


def blocking_registry() -> Registry:
    return Registry([PortEntry("fake", "numpy", "", "tests.harness.cli.faulty_ports:"
                               "BlockingPort")], {"fake": "tests.fakes:SPEC"})
