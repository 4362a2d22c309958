"""elman_sine: what both ports share (config, profiles, data, loop shape, tolerances).

Source: the "Elman network from scratch" PyTorch tutorial (seed articles 000 and 002,
PyTorch 0.3 ``Variable`` API). One sample is one point of a sine wave; the network
predicts the next point.

Loop shape (``Schedule`` below, the one loop every framework's adapter runs):
  for each epoch: context = zeros(1, hidden)
    for each of the seq_length points j:
      xh = cat(x[j], context)               # (1, input_size)
      context = tanh(xh @ w1)               # (1, hidden)
      pred = context @ w2                   # (1, 1)
      loss = sum((pred - y[j])^2) / 2
      backward; w -= lr * w.grad for w1 then w2; grads zeroed
      context = detach(context)             # "re-wrapped" in a new Variable
    the epoch figure is the float32 sum of the step losses (what the article prints)
  prediction pass: the same forward from a zero context over x, without updates.

Quirk not reproduced: the article's first context of every epoch is a Variable with
``requires_grad=True``; its gradient is computed and ignored. It changes no value (the
fidelity tests compare every epoch bit for bit).

Canonical parameters: w1 (input_size, hidden) is stored as one matrix, so that
``xh @ w1`` rounds exactly as in the article; ``get_params`` splits it into its input
row(s) ``W_xh`` (1, hidden) and context rows ``W_hh`` (hidden, hidden). ``W_hq`` = w2.
There are no biases.

Invariants: ``PROBE`` below (checks in ``harness.invariants``, tests in
tests/reference_impls/test_invariants.py).

The measurements behind every tolerance below (noise against signal, cross-framework,
invariants, devices, segments) are in docs/tutorials/elman_sine.md; each tolerance keeps
its one-line ``why``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from harness.interface import (
    Adapter,
    EpochRecord,
    Equivalence,
    Loop,
    Param,
    Params,
    ParamTable,
    Probe,
    SegmentPlan,
    Tolerance,
    TutorialSpec,
)

SOURCE = (
    "Elman RNN from scratch, PyTorch 0.3 Variable API (seed articles 000/002); "
    "modernised oracle in tests/oracles/elman_sine_original.py"
)


@dataclass(frozen=True)
class Config:
    epochs: int = 300
    lr: float = 0.1
    seq_length: int = 20
    hidden_size: int = 6
    output_size: int = 1
    w1_std: float = 0.4
    w2_std: float = 0.3
    t_start: float = 2.0
    t_stop: float = 10.0

    @property
    def input_size(self) -> int:
        # one data point plus the context (the article's input_size = 7)
        return 1 + self.hidden_size


TUTORIAL = Config()
PROFILES = {"tutorial": TUTORIAL, "ci": replace(TUTORIAL, epochs=60)}

PARAM_NAMES = ("W_xh", "W_hh", "W_hq")


def make_data(config: Config) -> dict[str, np.ndarray]:
    """x = the first seq_length points, y = the next one each, as float32 (seq_length, 1)."""
    t = np.linspace(config.t_start, config.t_stop, config.seq_length + 1)
    data = np.sin(t).reshape(config.seq_length + 1, 1)
    # the article builds float64 data and torch.Tensor() rounds it to float32
    return {"x": data[:-1].astype(np.float32), "y": data[1:].astype(np.float32)}


def split_w1(w1: np.ndarray) -> dict[str, np.ndarray]:
    """The article's w1 (1 + H, H) as canonical ``W_xh`` (1, H) and ``W_hh`` (H, H)."""
    return {"W_xh": w1[:1], "W_hh": w1[1:]}


def join_w1(params: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([params["W_xh"], params["W_hh"]], axis=0)


#: w1 is stored as the article's one (1 + H, H) matrix, so that ``xh @ w1`` rounds as there.
PARAMS = ParamTable((
    Param("W_xh", "(1, H)", {"torch": "w1[:1]", "mxnet": "w1[:1]", "jax": "w1[:1]"},
          "input row of the article's w1"),
    Param("W_hh", "(H, H)", {"torch": "w1[1:]", "mxnet": "w1[1:]", "jax": "w1[1:]"},
          "context rows of the article's w1"),
    Param("W_hq", "(H, 1)", {"torch": "w2", "mxnet": "w2", "jax": "w2"}, "the article's w2"),
))


class Schedule:
    """The article's loop: one SGD step per point, context reset each epoch, cut each step."""

    def prepare(self, config: Config, seed: int) -> Loop:
        return Loop(data=make_data(config))

    def epochs(self, ad: Adapter, config: Config, loop: Loop) -> Iterator[EpochRecord]:
        points = _points(ad, loop.data, config.seq_length)  # [{"x": x[j:j+1], "y": ...}]
        obs = loop.observer
        while loop.epoch < config.epochs:
            total = np.float32(0.0)  # the article's float32 running sum, as printed
            context = ad.zero_state(1)  # (1, H)
            for j in range(config.seq_length):
                loss, context = ad.forward_loss(points[j], context)
                ad.backward(loss)
                obs.gradients(ad)
                ad.update()  # w1 -= lr * grad, then w2; grads zeroed
                value = ad.loss_value(loss)
                obs.step(ad, value)
                total = np.float32(total + np.float32(value))
                context = ad.cut(context)  # re-wrapped: value kept, graph cut
            loop.epoch += 1
            yield EpochRecord(metrics={"loss": float(total), **obs.epoch()},
                              items=config.seq_length)

    def outputs(self, ad: Adapter, config: Config, loop: Loop) -> dict[str, Any]:
        """The article's prediction pass: one step per point from a zero context."""
        return {"predictions": ad.forward({"x": loop.data["x"]})["y"][:, 0].tolist()}


def _points(ad: Adapter, data: Mapping[str, np.ndarray], seq_length: int
            ) -> list[dict[str, Any]]:
    """Each step's point and target, ``x[j:j + 1]`` and ``y[j:j + 1]`` (the article's
    slices), made once per run. An adapter with the optional ``as_tensors(array)`` hook gets
    them sliced from its own tensors, converted once (the article's ``x``/``y`` are tensors
    made once); any other gets numpy slices and converts them itself."""
    convert = getattr(ad, "as_tensors", None)
    x, y = (data["x"], data["y"]) if convert is None else (convert(data["x"]), convert(data["y"]))
    return [{"x": x[j:j + 1], "y": y[j:j + 1]} for j in range(seq_length)]


# Golden tolerances: 1-ulp noise against an lr change, measured with `rnn-harness
# calibrate` (docs/tutorials/elman_sine.md). The tutorial's noise fixes the shared table;
# ci's smaller noise gets its own, so the ci prefix catches lr +0.1 % in every column.
TOLERANCES = {
    "default": Tolerance(rtol=3e-4, atol=0.0,
                         why="noise across kernel variants: 3.5e-5 (torch aten-default, "
                         "tutorial; 1-ulp 3.1e-5); signal of lr +0.1 %: 7.3e-4 (mxnet ci)"),
    "observables": Tolerance(rtol=3e-4, why="tutorial noise <= 2.0e-5, signal >= 5.1e-4"),
    "param_norm": Tolerance(rtol=1e-5, why="tutorial noise 9.9e-7, signal >= 7.3e-5"),
    "clip_fraction": Tolerance(rtol=0.0, why="the article does not clip: always 0"),
    "output:predictions": Tolerance(rtol=0.0, atol=1e-4,
                                    why="tutorial noise 9.7e-6 abs, signal >= 1.3e-4 abs"),
}
PROFILE_TOLERANCES = {"ci": {
    "observables": Tolerance(rtol=7e-5, why="ci noise <= 6.5e-6, signal >= 3.3e-4"),
    "param_norm": Tolerance(rtol=1e-6, why="ci noise 9.5e-8, signal >= 5.3e-5"),
    "output:predictions": Tolerance(rtol=0.0, atol=1.2e-5,
                                    why="ci noise 1.2e-6 abs, signal >= 5.9e-5 abs"),
}}

#: Cross-framework agreement, gated over the first 60 epochs (the ci run): from epoch ~74
#: chaotic seeds' own 1-ulp noise leaves it (docs/tutorials/elman_sine.md). Past the horizon
#: the curves are reported, not gated: seed envelopes compare distributions there.
CROSS_FRAMEWORK = {"default": Tolerance(rtol=3e-4, atol=0.0, horizon=60,
                                        why="10x the measured 3.2e-5 (torch vs mxnet); 60 "
                                        "epochs: chaotic seeds' 1-ulp noise passes it at 75")}



# ---------------------------------------------------------------- invariant probe
def _probe_config(sizes: Mapping[str, int]) -> Config:
    return replace(TUTORIAL, hidden_size=sizes["hidden"], seq_length=sizes["steps"])


def _probe_batch(sizes: Mapping[str, int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    t, h = sizes["steps"], sizes["hidden"]
    return {"x": rng.uniform(-1, 1, (t, 1)).astype(np.float32),
            "y": rng.uniform(-1, 1, (t, 1)).astype(np.float32),
            "h0": rng.uniform(-1, 1, (1, h)).astype(np.float32)}


def _as_layer_params(params: Params) -> Params:
    """The cell's weights in an RNN layer with zero biases and a bias-free read-out."""
    h = params["W_hh"].shape[0]
    zeros = np.zeros(h, dtype=params["W_hh"].dtype)
    return {"W_xh": params["W_xh"], "W_hh": params["W_hh"], "b_xh": zeros, "b_hh": zeros,
            "W_hq": params["W_hq"], "b_q": np.zeros(1, dtype=zeros.dtype)}


def _layer_grads(grads: Params, sizes: Mapping[str, int]) -> Params | None:
    # one step: the layer's MSE (p - y)^2 is twice the cell's (p - y)^2 / 2 (loss_ratio 2);
    # over more steps the cell cuts its state after every step and the layer does not
    if sizes["steps"] != 1:
        return None
    return {k: grads[k] for k in PARAM_NAMES}


def _layer_config(sizes: Mapping[str, int]) -> Any:
    from reference_impls.sin_cos import spec as layer_spec

    return replace(layer_spec.TUTORIAL, hidden_size=sizes["hidden"], time_step=sizes["steps"])


def _equivalence(framework: str) -> Equivalence:
    return Equivalence(
        a=f"elman_sine/{framework}", b=f"sin_cos/{framework}",
        why="the scratch cell is the framework's RNN layer (sin_cos's) with zero biases and "
            "no output bias",
        to_b=_as_layer_params,
        tolerance=Tolerance(rtol=1e-5, atol=1e-6, why="float32; measured max abs 2.4e-7 "
                                      "over 40 drawn examples, torch and MXNet; JAX 2.4e-7"),
        batch_to_b=lambda b: {"x": b["x"][None], "y": b["y"][None], "h0": b["h0"][None]},
        outputs_to_a=lambda o: {"y": o["y"][0], "h": o["h"][0]},
        grads_to_a=_layer_grads, loss_ratio=2.0, config_b=_layer_config)


#: How the invariant checks (``harness.invariants``) exercise these ports. The port
#: boundary is the article's: one sample at a time (batch fixed at 1), time-major x (T, 1);
#: the input size is fixed at 1 data point (+ the context).
PROBE = Probe(
    tutorial="elman_sine",
    sizes={"batch": (1, 1), "steps": (1, 6), "hidden": (1, 6)},
    make_config=_probe_config,
    make_batch=_probe_batch,
    output_shapes=lambda s: {"y": (s["steps"], 1), "h": (1, s["hidden"])},
    layout="time-major x (T, 1), batch of one; state (1, H)",
    cross_tolerance=Tolerance(rtol=1e-5, atol=1e-6,
                              why="measured over 40 drawn examples (H 1-6, T 1-6, random weights): "
                              "max abs 4.8e-7, within atol 1e-6 everywhere (rtol unused); 2x "
                              "margin on abs"),
    device_tolerance=Tolerance(rtol=1e-4, atol=1e-6,
        why=(
        "measured one step max abs 1.9e-6 (rel 2.4e-5, fits rtol 1e-4 "
        "with no atol), ci trajectory 9.6e-7; H100 vs the lent "
        "machine's Xeon CPU, torch 2.11.0+cu130, TF32 off "
        "(benchmarks/measure_devices.py)")),
    short_sizes={"steps": 20, "hidden": 6},
    short_epochs=3,
    # loss_and_grads cuts the context after every step (the article's loop), so its gradient
    # is the loss's full derivative for one step only; longer runs: the truncation check
    fd_sizes={"steps": 1},
    equivalences=(_equivalence("torch"), _equivalence("mxnet"), _equivalence("jax")),
)

# Checkpoint segments: the whole 300-epoch run in CI time. Checkpoints every 20 epochs, each
# segment 20 epochs long, so segments cover epochs 20-299 and the ci prefix 0-59: every
# epoch is gated. Per-step losses near 0 make relative differences meaningless, so steps are
# gated on an absolute scale (calibrate_segments figures: docs/tutorials/elman_sine.md).
SEGMENTS = SegmentPlan(
    spacing=20, length=20,
    epoch_tolerances={"default": Tolerance(rtol=1.5e-4, why="noise <= 1.4e-5, signal >= 9.9e-4"),
                      "param_norm": Tolerance(rtol=2e-6, why="noise 1.5e-7, signal 2.2e-5"),
                      "clip_fraction": Tolerance(rtol=0.0, why="no clipping: always 0")},
    step_tolerances={"loss": Tolerance(rtol=0.0, atol=2e-6, why="noise 1.6e-7, signal 1.9e-5"),
                     "grad_norm": Tolerance(rtol=0.0, atol=2.5e-5,
                                            why="noise 2.4e-6, signal 4.0e-4"),
                     "param_norm": Tolerance(rtol=2e-6, why="noise 1.7e-7, signal 2.6e-5"),
                     "update_norm": Tolerance(rtol=0.0, atol=3e-6,
                                              why="noise 2.6e-7, signal 4.6e-5"),
                     "clipped": Tolerance(rtol=0.0, why="exact: a clip decision flips or not")},
    why="1-ulp noise vs lr +0.1 % per segment (calibrate_segments), torch port")

SPEC = TutorialSpec(
    name="elman_sine",
    source=SOURCE,
    profiles=PROFILES,
    metrics=("loss",),
    tolerances=TOLERANCES,
    profile_tolerances=PROFILE_TOLERANCES,
    default_seed=0,
    cross_framework=CROSS_FRAMEWORK,
    schedule=Schedule(),
    params={"": PARAMS},
    items="SGD steps",
    probe=PROBE,
    segments=SEGMENTS,
    metric_labels={"loss": "loss (sum over the epoch's 20 steps of (pred - y)^2 / 2)"},
)
