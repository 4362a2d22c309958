"""Restoring a checkpoint is exact for every port (issue 10 §1).

Train with the golden's seed, checkpoint after epoch k, restore into a fresh port and
train on: the tail equals the golden's bit for bit, every observable equals the
uninterrupted run's, and (trained to the end) the outputs equal the golden's. The
checkpoint goes through npz and JSON on the way, as a stored one would. An early checkpoint
is replayed for two epochs (what it restores shows there), a late one to the end (what
only shows late: schedules, annealing, the outputs).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.errors import CorpusError
from harness.golden import GoldenStore
from harness.interface import Checkpoint, SpecPort
from harness.registry import default_registry
from harness.runner import build_port

REGISTRY = default_registry()


def ports(profile: str) -> Iterable[Any]:
    for entry in REGISTRY.entries():
        marks = [getattr(pytest.mark, entry.framework),
                 pytest.mark.xdist_group(entry.port_id)]  # the worker that holds its ci run
        if profile == "tutorial":
            marks.append(pytest.mark.slow)  # a whole tutorial run: minutes for char_rnn
        yield pytest.param(entry.port_id, marks=marks, id=entry.port_id.replace("/", "-"))


def through_disk(ckpt: Checkpoint, folder: Path) -> Checkpoint:
    """``ckpt`` written as goldens keep it, float32 in compressed npz + JSON (never
    pickled), and read back."""
    arrays = {key: value.astype(np.float32) for key, value in ckpt.arrays.items()}
    for key, value in arrays.items():  # float32 must lose nothing
        np.testing.assert_array_equal(value, ckpt.arrays[key], err_msg=key)
    path = folder / f"epoch{ckpt.epoch}.npz"
    np.savez_compressed(path, **arrays)
    with np.load(path, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    return Checkpoint(ckpt.epoch, arrays, json.loads(json.dumps(ckpt.scalars)))


def started(port_id: str, config: Any, seed: int) -> SpecPort:
    try:
        return build_port(port_id, config, seed)
    except CorpusError as exc:
        pytest.skip(f"{exc.summary} Fix: {exc.fix}")  # the fix names RNN_HARNESS_DATA


#: Epochs an early checkpoint (not the last one asked for) is replayed for.
EARLY_REPLAY = 2


def assert_restores_exactly(port_id: str, profile: str, starts: Mapping[str, int],
                            golden_store: GoldenStore, folder: Path,
                            whole_run: Any = None) -> None:
    """``starts``: a label -> the epoch after which to checkpoint. The latest is replayed to
    the end, the others for ``EARLY_REPLAY`` epochs. ``whole_run``: the uninterrupted run
    already trained (a ``CiRun``), else it is trained here."""
    golden = golden_store.read(port_id, profile)
    config = REGISTRY.spec(REGISTRY.get(port_id).tutorial).profile(profile)
    seed = golden.meta["seed"]
    rows: list[Mapping[str, float]] = []
    checkpoints: dict[int, Checkpoint] = {}
    if whole_run is not None:
        metrics = whole_run.trajectory.metrics
        rows = [{name: float(values[i]) for name, values in metrics.items()}
                for i in range(whole_run.trajectory.num_epochs)]
        checkpoints = {k: through_disk(whole_run.checkpoints[k], folder)
                       for k in starts.values()}
    else:
        whole = started(port_id, config, seed)
        for record in whole.train():
            rows.append(record.metrics)
            if len(rows) in starts.values():
                checkpoints[len(rows)] = through_disk(whole.checkpoint(), folder)
    for metric, values in golden.metrics.items():  # else a failure below blames restore
        np.testing.assert_array_equal([r[metric] for r in rows], values,
                                      err_msg=f"the uninterrupted run is not the golden: {metric}")
    last = max(starts.values())
    for label, k in starts.items():
        resumed = started(port_id, config, seed)
        resumed.restore(checkpoints[k])
        end = len(rows) if k == last else min(len(rows), k + EARLY_REPLAY)
        tail = [record.metrics for _, record in zip(range(end - k), resumed.train(),
                                                    strict=False)]
        for metric, values in golden.metrics.items():
            np.testing.assert_array_equal([r[metric] for r in tail], values[k:end],
                                          err_msg=f"{metric} after restoring epoch {k} ({label})")
        assert tail == rows[k:end], f"observables after restoring epoch {k} ({label})"
        if end == len(rows):
            outputs = json.loads(json.dumps(resumed.outputs()))  # as the golden stores them
            assert outputs == golden.outputs, f"outputs after restoring epoch {k} ({label})"


@pytest.mark.parametrize("port_id", list(ports("ci")))
def test_restoring_a_ci_checkpoint_reproduces_the_golden_tail(port_id, golden_store, tmp_path,
                                                             ci_run):
    epochs = REGISTRY.spec(REGISTRY.get(port_id).tutorial).profile("ci").epochs
    starts = {"first epoch": 1, "half way": epochs // 2}
    assert_restores_exactly(port_id, "ci", starts, golden_store, tmp_path, ci_run(port_id))


@pytest.mark.parametrize("port_id", list(ports("ci")))
def test_a_used_port_restored_to_epoch_0_trains_like_a_fresh_one(port_id, golden_store,
                                                                 tmp_path):
    """Before the first step the optimizer holds no state (step 0): restoring that must
    also clear what an earlier run left (moments, step count, carried state)."""
    golden = golden_store.read(port_id, "ci")
    config = REGISTRY.spec(REGISTRY.get(port_id).tutorial).profile("ci")
    seed = golden.meta["seed"]
    ckpt = through_disk(started(port_id, config, seed).checkpoint(), tmp_path)
    used = started(port_id, config, seed)
    for _ in zip(range(2), used.train(), strict=False):
        pass
    used.restore(ckpt)
    rows = [record.metrics for _, record in zip(range(2), used.train(), strict=False)]
    for metric, values in golden.metrics.items():
        np.testing.assert_array_equal([r[metric] for r in rows], values[:2], err_msg=metric)


@pytest.mark.parametrize("port_id", list(ports("tutorial")))
def test_restoring_a_late_tutorial_checkpoint_reproduces_the_golden_tail(port_id, golden_store,
                                                                       tmp_path):
    epochs = REGISTRY.spec(REGISTRY.get(port_id).tutorial).profile("tutorial").epochs
    starts = {"late": epochs - max(1, epochs // 10)}
    assert_restores_exactly(port_id, "tutorial", starts, golden_store, tmp_path)
