"""The char_rnn MXNet ports against d2l 0.17.6's own MXNet functions, bit for bit.

The oracle (tests/oracles/char_rnn_mxnet_original.py) runs the notebooks' cells with
``d2l.train_epoch_ch8`` / ``d2l.predict_ch8`` / ``d2l.train_ch8`` themselves.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("mxnet", reason="install the mxnet extra: pip install 'rnn-harness[mxnet]'")
pytest.importorskip("d2l", reason="run the fidelity tox env (pip install --no-deps d2l==0.17.6)")

from harness.runner import run_port  # noqa: E402
from reference_impls.char_rnn import spec  # noqa: E402

pytestmark = [pytest.mark.mxnet, pytest.mark.fidelity]

EPOCHS = 3
SEED = 7
VARIANTS = pytest.mark.parametrize("variant", ["scratch", "concise"],
                                   ids=["char_rnn-mxnet-scratch", "char_rnn-mxnet-concise"])


@pytest.fixture(scope="module")
def oracle() -> ModuleType:
    os.environ.setdefault("MPLBACKEND", "Agg")  # d2l.train_ch8 draws an Animator
    return importlib.import_module("tests.oracles.char_rnn_mxnet_original")


def _port_run(variant: str, corpus_path: Path, monkeypatch: pytest.MonkeyPatch,
              epochs: int = EPOCHS) -> tuple[list[float], dict[str, str]]:
    monkeypatch.setenv("RNN_HARNESS_DATA", str(corpus_path.parent))
    config = replace(spec.TUTORIAL, epochs=epochs)
    traj = run_port(f"char_rnn/mxnet-{variant}", "ci", seed=SEED, config=config)
    return traj.metrics["perplexity"].tolist(), traj.outputs["predictions"]


@VARIANTS
def test_port_perplexity_and_continuations_equal_d2l_bitwise(
        variant: str, corpus_path: Path, oracle: ModuleType,
        monkeypatch: pytest.MonkeyPatch) -> None:
    expected_ppl, expected_text = oracle.run_epochs(variant, corpus_path, SEED, EPOCHS)
    obtained_ppl, obtained_text = _port_run(variant, corpus_path, monkeypatch)
    assert obtained_ppl == expected_ppl  # exact float equality, epoch by epoch
    assert obtained_text == expected_text


@VARIANTS
def test_driving_train_epoch_ch8_equals_d2l_train_ch8(
        variant: str, corpus_path: Path, oracle: ModuleType) -> None:
    per_epoch, texts = oracle.run_epochs(variant, corpus_path, SEED, 2)
    inside, printed = oracle.run_train_ch8(variant, corpus_path, SEED, 2)
    assert inside == per_epoch
    lines = printed.rstrip("\n").splitlines()
    assert lines[-2:] == [texts["time traveller"], texts["traveller"]]
    assert lines[-3].startswith(f"perplexity {per_epoch[-1]:.1f}, ")


def test_a_different_seed_changes_the_trajectory(corpus_path: Path, oracle: ModuleType,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    obtained, _ = _port_run("concise", corpus_path, monkeypatch, epochs=1)
    other, _ = oracle.run_epochs("concise", corpus_path, SEED + 1, 1)
    assert obtained != other
