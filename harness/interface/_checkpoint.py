"""Training-state checkpoints in canonical, framework-neutral form.

A ``Checkpoint`` is what a fresh port needs to continue a run exactly where it stopped:
the parameters, the optimizer's state (e.g. Adam's moments and step counts), the hidden
state carried across epochs (where a tutorial carries one), the data-order RNG's state,
every global generator the run may draw from (Python's ``random``, numpy's, and each loaded
framework's: ``capture_rngs``) and the epoch. Arrays are keyed ``param/<name>``,
``opt/<slot>/<name>``, ``carry/<i>`` and ``extra/<key>``; everything else is plain JSON in
``scalars``. Never pickled.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.backends import loaded_backends


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


def bytes_to_json(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def bytes_from_json(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def capture_rngs() -> dict[str, Any]:
    """The state of every global generator a run may draw from, as JSON: Python's
    ``random``, numpy's legacy global generator and each loaded framework's own (its
    backend's ``rng_state``; a framework whose backend has none records nothing, and
    ``record``'s replay proof refuses a port that draws from it)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": rng_state_to_json(random),  # type: ignore[arg-type]
        "numpy": {"kind": kind, "keys": bytes_to_json(np.asarray(keys, "<u4").tobytes()),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
    }
    for backend in loaded_backends():
        capture = getattr(backend, "rng_state", None)
        if capture is not None:
            state[backend.FRAMEWORK] = capture()
    return state


def restore_rngs(state: Mapping[str, Any] | None) -> None:
    """Put back what ``capture_rngs`` captured (nothing for a checkpoint that predates it)."""
    if not state:
        return
    if state.get("python") is not None:
        restored = rng_from_json(state["python"])
        assert restored is not None
        random.setstate(restored.getstate())
    if state.get("numpy") is not None:
        st = state["numpy"]
        keys = np.frombuffer(bytes_from_json(st["keys"]), "<u4").astype(np.uint32)
        np.random.set_state((st["kind"], keys, st["pos"], st["has_gauss"], st["cached"]))
    for backend in loaded_backends():
        put = getattr(backend, "set_rng_state", None)
        if put is not None and state.get(backend.FRAMEWORK) is not None:
            put(state[backend.FRAMEWORK])
