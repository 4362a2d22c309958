"""Training-state checkpoints in canonical, framework-neutral form.

A ``Checkpoint`` is what a fresh port needs to continue a run exactly where it stopped:
the parameters, the optimizer's state (e.g. Adam's moments and step counts), the hidden
state carried across epochs (where a tutorial carries one), the data-order RNG's state and
the epoch. Arrays are keyed ``param/<name>``, ``opt/<slot>/<name>`` and ``carry/<i>``;
everything else is plain JSON in ``scalars``. Never pickled.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Checkpoint:
    """The complete training state after ``epoch`` epochs (so training resumes at it)."""

    epoch: int
    arrays: dict[str, np.ndarray]
    scalars: dict[str, Any] = field(default_factory=dict)

    def group(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays under ``prefix/``, keyed by the rest of their name."""
        n = len(prefix) + 1
        return {k[n:]: v for k, v in self.arrays.items() if k.startswith(prefix + "/")}

    def slots(self) -> dict[str, dict[str, np.ndarray]]:
        """Optimizer state by slot: ``{"exp_avg": {"W_xh": ...}, ...}``."""
        out: dict[str, dict[str, np.ndarray]] = {}
        for key, value in self.group("opt").items():
            slot, _, name = key.partition("/")
            out.setdefault(slot, {})[name] = value
        return out


@dataclass
class Segment:
    """A golden run's continuation from ``checkpoint`` for ``length`` epochs.

    ``epochs``: one value per epoch (the tutorial's figure and the epoch observables);
    ``steps``: one value per training step, with ``epoch`` and ``step`` columns; ``meta``:
    the golden run's seed and config hash.
    """

    start: int
    length: int
    checkpoint: Checkpoint
    epochs: dict[str, np.ndarray]
    steps: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)


def rng_state_to_json(rng: random.Random | None) -> Any:
    """``random.Random.getstate()`` as JSON (version, 625 words, gauss_next)."""
    if rng is None:
        return None
    version, words, gauss = rng.getstate()
    return {"version": version, "words": list(words), "gauss_next": gauss}


def rng_from_json(state: Mapping[str, Any] | None) -> random.Random | None:
    if state is None:
        return None
    rng = random.Random()
    rng.setstate((state["version"], tuple(state["words"]), state["gauss_next"]))
    return rng
