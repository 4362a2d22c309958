"""my_sine: an Elman RNN learns the next sample of a sine wave (truncated BPTT).

Framework-free: the config and its profiles, the data, the training loop (``Schedule``,
written once against ``harness.interface.Adapter``), the canonical parameters, the
tolerances and the probe the invariant checks draw from. A port per framework only turns
the loop's calls into arithmetic (``numpy_port.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.interface import (
    EpochRecord,
    Loop,
    Param,
    ParamTable,
    Probe,
    Tolerance,
    TutorialSpec,
)


@dataclass(frozen=True)
class Config:
    epochs: int = 40
    lr: float = 0.05
    hidden: int = 8
    #: window length: the loss and its gradient span this many steps (truncated BPTT)
    steps: int = 10
    #: samples of the wave; windows are consecutive, their targets shifted by one sample
    length: int = 200


PROFILES = {"tutorial": Config(), "ci": Config(epochs=8)}


def windows(config: Config) -> list[tuple[np.ndarray, np.ndarray]]:
    """Consecutive (x, y) windows of the wave, each (steps, 1); y is x one sample on."""
    wave = np.sin(np.linspace(0.0, 8 * np.pi, config.length + 1))
    s = config.steps
    return [(wave[i:i + s, None], wave[i + 1:i + s + 1, None])
            for i in range(0, config.length - s + 1, s)]


class Schedule:
    """The one training loop: windows in order, the state carried from window to window
    and cut between them, reset to zeros every epoch; one SGD step per window."""

    def prepare(self, config: Config, seed: int) -> Loop:
        return Loop(data={"windows": windows(config)})

    def epochs(self, ad: Any, config: Config, loop: Loop) -> Iterator[EpochRecord]:
        obs = loop.observer
        while loop.epoch < config.epochs:
            state, total = ad.zero_state(1), 0.0
            for x, y in loop.data["windows"]:
                loss, state = ad.forward_loss({"x": x, "y": y}, state)
                ad.backward(loss)
                obs.gradients(ad)
                ad.update()
                value = ad.loss_value(loss)
                obs.step(ad, value)
                total += value
                state = ad.cut(state)  # carried on; no gradient flows into the last window
            loop.epoch += 1
            count = len(loop.data["windows"])
            yield EpochRecord(metrics={"loss": total / count, **obs.epoch()}, items=count)

    def outputs(self, ad: Any, config: Config, loop: Loop) -> dict[str, Any]:
        x, _ = loop.data["windows"][0]
        return {"prediction": ad.forward({"x": x})["y"].ravel().tolist()}


#: canonical parameters (``x @ W`` convention) and how each framework stores them
PARAMS = ParamTable((
    Param("W_xh", "(1, H)", {"numpy": "W_xh"}),
    Param("W_hh", "(H, H)", {"numpy": "W_hh"}),
    Param("b_h", "(H,)", {"numpy": "b_h"}),
    Param("W_hq", "(H, 1)", {"numpy": "W_hq"}),
    Param("b_q", "(1,)", {"numpy": "b_q"}),
))


def _probe_config(sizes: Mapping[str, int]) -> Config:
    return dataclasses.replace(PROFILES["ci"], hidden=sizes["hidden"], steps=sizes["steps"])


def _probe_batch(sizes: Mapping[str, int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    steps, hidden = sizes["steps"], sizes["hidden"]
    return {"x": rng.normal(size=(steps, 1)), "y": rng.normal(size=(steps, 1)),
            "h0": rng.normal(size=(1, hidden))}


#: how harness.invariants exercises the ports: drawn sizes, a batch, the documented shapes
PROBE = Probe(
    tutorial="my_sine",
    sizes={"steps": (1, 6), "hidden": (1, 5)},
    make_config=_probe_config,
    make_batch=_probe_batch,
    output_shapes=lambda s: {"y": (s["steps"], 1), "h": (1, s["hidden"])},
    layout="time-major x (T, 1), batch of one; state (1, H)",
    cross_tolerance=Tolerance(rtol=1e-5, atol=1e-6, why="one framework so far"),
    device_tolerance=Tolerance(rtol=1e-5, atol=1e-6, why="numpy runs on the CPU only"),
)

SPEC = TutorialSpec(
    name="my_sine",
    source="examples/outside_project (rnn-harness): an Elman RNN on a sine wave",
    profiles=PROFILES,
    metrics=("loss",),
    # float64 numpy: another BLAS may reorder the small matrix products' sums (about 1e-16
    # relative per product); a 1 % learning-rate change moves every ci epoch's loss by
    # 0.24 % to 2.9 % relative (measured), seven orders of magnitude above rtol
    tolerances={"default": Tolerance(rtol=1e-9, atol=1e-12,
                                     why="float64 reordering noise vs a 1 % lr change")},
    default_seed=0,
    schedule=Schedule(),
    params={"": PARAMS},
    items="windows",
    probe=PROBE,
)
