"""Fixtures for the fidelity tests: the verified corpus, and d2l.torch importable for oracles."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.corpus import find_corpus
from harness.errors import CorpusError


@pytest.fixture(scope="session")
def corpus_path() -> Path:
    """The verified timemachine.txt, found without downloading; skips with what to do."""
    try:
        return find_corpus(download=False)
    except CorpusError as err:
        pytest.skip(str(err))


def _torchvision_loads() -> bool:
    if importlib.util.find_spec("torchvision") is None:
        return False
    try:
        importlib.import_module("torchvision")
    except Exception:  # a wheel built for another torch fails in many ways at import
        for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        return False
    return True


def _torchvision_stub() -> dict[str, types.ModuleType]:
    """TEST-ONLY stand-in for torchvision: ``d2l.torch`` imports it at the top (for its
    image chapters); chapter 8 never touches it. PyPI's torchvision does not load beside
    the CPU torch 2.13 used here, so the import gets these empty modules instead."""
    root = types.ModuleType("torchvision")
    root.__doc__ = "Empty test stub (tests/reference_impls/char_rnn/conftest.py); chapter 8 never uses it."
    transforms = types.ModuleType("torchvision.transforms")
    root.transforms = transforms  # type: ignore[attr-defined]
    return {"torchvision": root, "torchvision.transforms": transforms}


@pytest.fixture(scope="session")
def d2l_torch_oracle() -> Iterator[types.ModuleType]:
    """tests/oracles/char_rnn_torch_original.py, imported with ``d2l.torch`` loadable.

    The torchvision stub is in ``sys.modules`` only while ``d2l.torch`` is imported, and
    only where the real torchvision cannot load; it is removed again right after.
    """
    pytest.importorskip("torch", reason="install the torch extra: pip install 'rnn-harness[torch]'")
    pytest.importorskip("d2l", reason="run the fidelity tox env "
                        "(pip install --no-deps d2l==0.17.6)")
    stub = {} if _torchvision_loads() else _torchvision_stub()
    sys.modules.update(stub)
    try:
        oracle = importlib.import_module("tests.oracles.char_rnn_torch_original")
    finally:
        for name, module in stub.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    yield oracle
