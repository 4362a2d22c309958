"""word_lm: an LSTM word-level language model (original.py, after the PyTorch examples'
word_language_model) on a few KB of generated sentences.

Framework-free: the config and its profiles, the corpus and its batches, the training loop
(``Schedule``: truncated BPTT, clipping, hand-written SGD at the schedule's learning rate,
a validation pass per epoch, lr / 4 when the validation loss does not improve, the best
weights kept and scored on the test set), the parameter table, the tolerances and the
checkpoint segments. ``torch_port.py`` turns the loop's calls into torch.

Seeding: ``torch.manual_seed(seed)`` draws the initial weights, then every dropout mask
(torch's global CPU generator, which every checkpoint holds). Nothing else is random.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.interface import (
    Adapter,
    EpochRecord,
    Loop,
    Param,
    ParamTable,
    SegmentPlan,
    Tolerance,
    TutorialSpec,
)

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Config:
    """original.py's command-line defaults (the ``tutorial`` profile)."""

    epochs: int = 16
    model: str = "LSTM"
    emsize: int = 16
    nhid: int = 16
    nlayers: int = 2
    lr: float = 20.0
    clip: float = 0.25
    batch_size: int = 4
    eval_batch_size: int = 4
    bptt: int = 8
    dropout: float = 0.2
    #: the learning rate is divided by this after an epoch whose validation loss is no best
    anneal: float = 4.0
    tied: bool = True


PROFILES = {"tutorial": Config(), "ci": replace(Config(), epochs=3)}


# ---------------------------------------------------------------- corpus and batches
def tokenize(path: Path, words: dict[str, int]) -> np.ndarray:
    """original.py's ``Corpus.tokenize``: whitespace words and ``<eos>`` per line, each new
    word numbered in order of first appearance (``words`` grows)."""
    ids = []
    with open(path, encoding="utf8") as fh:
        for line in fh:
            for word in line.split() + ["<eos>"]:
                ids.append(words.setdefault(word, len(words)))
    return np.array(ids, dtype=np.int64)


def batchify(data: np.ndarray, bsz: int) -> np.ndarray:
    """(nbatch, bsz): the text cut into ``bsz`` equal stretches, one per column."""
    nbatch = len(data) // bsz
    return np.ascontiguousarray(data[:nbatch * bsz].reshape(bsz, -1).T)


def batches(source: np.ndarray, bptt: int) -> list[dict[str, np.ndarray]]:
    """original.py's ``get_batch`` for i = 0, bptt, ...: data (T, B), targets (T*B,) (the
    next word of each, time-major); the last batch is shorter."""
    out = []
    for i in range(0, len(source) - 1, bptt):
        seq_len = min(bptt, len(source) - 1 - i)
        out.append({"data": source[i:i + seq_len],
                    "targets": source[i + 1:i + 1 + seq_len].reshape(-1)})
    return out


def load_data(config: Config, folder: Path = DATA) -> dict[str, Any]:
    words: dict[str, int] = {}
    train, valid, test = (tokenize(folder / f"{name}.txt", words)
                          for name in ("train", "valid", "test"))
    splits = {"train": batchify(train, config.batch_size),
              "valid": batchify(valid, config.eval_batch_size),
              "test": batchify(test, config.eval_batch_size)}
    return {"ntokens": len(words), "words": list(words),
            **{name: batches(src, config.bptt) for name, src in splits.items()},
            # evaluate() divides by the scored positions: len(data_source) - 1
            **{f"{name}_positions": len(splits[name]) - 1 for name in ("valid", "test")}}


# ---------------------------------------------------------------- the loop
class Schedule:
    """original.py's epoch loop. Beyond ``Adapter`` it calls ``clip``, ``update(lr)``,
    ``train_mode`` and ``evaluate`` (``harness.backends.torch_adapter`` documents them).
    ``Loop.extra`` holds the current lr, the best validation loss and the best weights
    (``best/<name>``, canonical arrays), so a checkpoint continues the annealing exactly."""

    def prepare(self, config: Config, seed: int) -> Loop:
        return Loop(data=load_data(config), extra={"lr": config.lr, "best_val_loss": None})

    def epochs(self, ad: Adapter, config: Config, loop: Loop) -> Iterator[EpochRecord]:
        while loop.epoch < config.epochs:
            lr = loop.extra["lr"]
            train_loss = self._train(ad, config, loop, lr)
            val_loss = evaluate(ad, config, loop.data["valid"], loop.data["valid_positions"])
            best = loop.extra["best_val_loss"]
            if not best or val_loss < best:  # the original saves the model here
                loop.extra["best_val_loss"] = val_loss
                weights = PARAMS.read(ad.framework, ad.tensors(), ad.backend)
                loop.extra.update({f"best/{k}": v for k, v in weights.items()})
            else:
                loop.extra["lr"] = lr / config.anneal
            loop.epoch += 1
            targets = sum(len(b["targets"]) for b in loop.data["train"])
            yield EpochRecord(metrics={"val_loss": val_loss, "train_loss": train_loss,
                                       "lr": lr, **loop.observer.epoch()}, items=targets)

    @staticmethod
    def _train(ad: Any, config: Config, loop: Loop, lr: float) -> float:
        """One epoch of original.py's ``train``; returns the mean of the batch losses."""
        obs, total = loop.observer, 0.0
        ad.train_mode(True)  # dropout on
        state = ad.zero_state(config.batch_size)  # ((L, B, H), (L, B, H))
        for batch in loop.data["train"]:
            state = ad.cut(state)  # repackage_hidden: carried on, graph cut
            loss, state = ad.forward_loss(batch, state)
            ad.backward(loss)
            obs.gradients(ad)
            ad.clip(config.clip)
            obs.clipped(ad)
            ad.update(lr)
            value = ad.loss_value(loss)
            obs.step(ad, value)
            total += value
        return total / len(loop.data["train"])

    def outputs(self, ad: Adapter, config: Config, loop: Loop) -> dict[str, Any]:
        """The best model's test loss, as the original scores it; the trained weights are
        put back afterwards."""
        best = {k.split("/", 1)[1]: v for k, v in loop.extra.items() if k.startswith("best/")}
        final = PARAMS.read(ad.framework, ad.tensors(), ad.backend)
        PARAMS.load(ad.framework, ad.tensors(), ad.backend, best, port=ad.port_id)
        test_loss = evaluate(ad, config, loop.data["test"], loop.data["test_positions"])
        PARAMS.load(ad.framework, ad.tensors(), ad.backend, final, port=ad.port_id)
        return {"test_loss": test_loss, "best_val_loss": loop.extra["best_val_loss"]}


def evaluate(ad: Any, config: Config, data: Sequence[dict[str, np.ndarray]],
             positions: int) -> float:
    """original.py's ``evaluate``: dropout off, no graph, the loss per scored position."""
    ad.train_mode(False)
    total, state = 0.0, ad.zero_state(config.eval_batch_size)
    for batch in data:
        loss, state = ad.evaluate(batch, state)
        state = ad.cut(state)
        total += len(batch["data"]) * loss
    return total / positions


# ---------------------------------------------------------------- parameters
def _layer(n: int) -> tuple[Param, ...]:
    """LSTM layer ``n``: gates i, f, g, o stacked along the output axis (torch's order)."""
    return (Param(f"W_xh{n}", "(E, 4H)" if n == 0 else "(H, 4H)",
                  {"torch": f"rnn.weight_ih_l{n}.T"}, "input weights"),
            Param(f"W_hh{n}", "(H, 4H)", {"torch": f"rnn.weight_hh_l{n}.T"}, "recurrent weights"),
            Param(f"b_xh{n}", "(4H,)", {"torch": f"rnn.bias_ih_l{n}"}, "input bias"),
            Param(f"b_hh{n}", "(4H,)", {"torch": f"rnn.bias_hh_l{n}"}, "recurrent bias"))


#: canonical parameters (``x @ W``). Tied: the decoder computes ``h @ W_emb.T``, so its
#: weight is ``W_emb`` itself and has no row of its own. Two layers, as every profile.
PARAMS = ParamTable((
    Param("W_emb", "(V, E)", {"torch": "encoder.weight"}, "embedding = decoder weight"),
    *_layer(0), *_layer(1),
    Param("b_q", "(V,)", {"torch": "decoder.bias"}, "decoder bias"),
))


# ---------------------------------------------------------------- tolerances
# Measured on this CPU (torch 2.13, one thread) as rnn-harness calibrate does: noise = the
# run with every initial weight 1 and 2 ulps up, signal = lr x 1.001 in the update. The run
# is chaotic: from epoch 3 the 1-ulp noise (1e-3, then 2-7 %) is as large as the signal, and
# an annealing decision flips (lr x 4). So the run gates its first 3 epochs (the ci profile,
# which holds the first annealing) and the checkpoint segments gate every later epoch.
HORIZON = 3
TOLERANCES = {
    "default": Tolerance(rtol=1e-3, horizon=HORIZON,
                         why="val_loss: noise <= 1.0e-4, signal >= 1.7e-2 from epoch 1"),
    "train_loss": Tolerance(rtol=1e-4, horizon=HORIZON,
                            why="noise <= 1.9e-5, signal >= 1.4e-4 (epoch 0)"),
    "lr": Tolerance(rtol=0.0, horizon=HORIZON, why="exact: 20, then / anneal (lr x 4 flips)"),
    "grad_norm_mean": Tolerance(rtol=1.5e-3, horizon=HORIZON,
                                why="noise <= 3.7e-4, signal >= 3.4e-3 from epoch 1"),
    "grad_norm_max": Tolerance(rtol=1e-2, horizon=HORIZON,
                               why="noise <= 3.0e-3, signal 0.91 at epoch 2"),
    "clip_fraction": Tolerance(rtol=0.0, horizon=HORIZON,
                               why="no clip decision flipped by noise; signal 5.6e-2"),
    "param_norm": Tolerance(rtol=1.5e-4, horizon=HORIZON,
                            why="noise <= 4.8e-5, signal >= 3.4e-4 (epoch 0)"),
    "update_norm_mean": Tolerance(rtol=5e-4, horizon=HORIZON,
                                  why="noise <= 2.2e-4, signal >= 1.2e-3 (epoch 0)"),
    # compared only in runs of at most HORIZON epochs (ci); the tutorial's end is chaotic
    "output:test_loss": Tolerance(rtol=2e-4, horizon=HORIZON,
                                  why="ci noise <= 1.7e-5, signal 8.2e-3"),
    "output:best_val_loss": Tolerance(rtol=1e-4, horizon=HORIZON,
                                      why="ci noise <= 5.9e-6, signal 2.2e-2"),
}

# Segments: 7 checkpoints (epochs 2, 4, ... 14), each replaying 2 epochs (43 steps each),
# so every epoch from 2 on is gated and every annealing decision is followed by the epoch
# it changes. Noise = each segment replayed from weights 1 ulp up; signal = lr x 1.001,
# which moves every segment's first update norm by 1.0e-3 (the steps are clipped).
_STEP = {
    "loss": Tolerance(rtol=2e-3, why="noise <= 1.6e-4 (segment 8), signal >= 2.5e-3"),
    "grad_norm": Tolerance(rtol=2e-2, why="noise <= 1.6e-3, signal >= 3.6e-2"),
    "clipped": Tolerance(rtol=0.0, why="a clip decision: no flip in the noisy replays"),
    "param_norm": Tolerance(rtol=2e-5, why="noise <= 2.1e-6, signal >= 7.1e-5"),
    "update_norm": Tolerance(rtol=1e-4, why="noise <= 6.2e-6, signal 1.0e-3 at step 0"),
}
_EPOCH = {
    "default": Tolerance(rtol=1e-4, why="val_loss: noise <= 9.9e-6, signal 8.2e-5 to 2.8e-2"),
    "train_loss": Tolerance(rtol=3e-5, why="noise <= 2.7e-6, signal >= 1.2e-4"),
    "lr": Tolerance(rtol=0.0, why="exact: the restored lr, / anneal"),
    "grad_norm_mean": Tolerance(rtol=2e-3, why="noise <= 1.4e-4, signal 1.8e-3 to 5.5e-2"),
    "grad_norm_max": Tolerance(rtol=2e-2, why="noise <= 1.6e-3, signal 8.4e-3 to 0.37"),
    "clip_fraction": Tolerance(rtol=0.0, why="no clip decision flipped by noise"),
    "param_norm": Tolerance(rtol=2e-5, why="noise <= 2.1e-6, signal >= 5.0e-5"),
    "update_norm_mean": Tolerance(rtol=1e-5, why="noise <= 1.3e-7, signal 1.0e-3"),
}
SEGMENTS = SegmentPlan(spacing=2, length=2, epoch_tolerances=_EPOCH, step_tolerances=_STEP,
                       why="1-ulp noise vs lr x 1.001 per segment (update_norm decides); "
                           "2 epochs each: an annealing decision and the epoch it changes")

SPEC = TutorialSpec(
    name="word_lm",
    source="examples/word_lm/original.py (rnn-harness), after the PyTorch examples' "
           "word_language_model; corpus: word_lm/data (generated sentences)",
    profiles=PROFILES,
    metrics=("val_loss", "train_loss", "lr"),
    tolerances=TOLERANCES,
    default_seed=1111,  # the PyTorch example's
    schedule=Schedule(),
    params={"": PARAMS},
    items="tokens",
    segments=SEGMENTS,
)
