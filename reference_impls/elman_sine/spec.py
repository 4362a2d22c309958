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

Invariants (issue 4; ``PROBE`` below, checks in harness/invariants_checks.py, tests in
tests/reference_impls/test_invariants.py).
Measured on a 2-core AMD EPYC VM, torch 2.13.0+cpu, mxnet 1.9.1, numpy 1.23.5:
  * cross-framework (torch vs MXNet, same random weights, drawn H 1-6, T 1-6, 40 examples):
    forward outputs, loss and gradients differ by at most 4.8e-7 absolute -> rtol 1e-5,
    atol 1e-6.
  * variants: the scratch cell equals the framework's RNN layer with zero biases and no
    output bias (the sin_cos ports' nn.RNN / gluon.rnn.RNN + a Linear/Dense): forward max
    abs 2.4e-7; for one step the gradients too (the layer's MSE is twice the cell's loss).
  * finite differences: loss_and_grads cuts the context after every step, so its gradient
    is the loss's full derivative for one step only (``fd_sizes``); float64, eps 1e-6.
  * threads: the short run (3 epochs, H 6) is bitwise identical with 1 and 2 threads
    (OMP/MKL/MXNET_CPU_WORKER_NTHREADS) in both frameworks; this CPU has 2 cores.
  * devices (measured on a lent H100, torch 2.11.0+cu130, TF32 off, against that machine's
    CPU; benchmarks/measure_devices.py):
    rtol 1e-4, atol 1e-6; one step max abs 1.9e-6, ci run 9.6e-7 rel.
    JAX (lent H200, jax 0.11.2, matmul precision highest): one step max abs 1.9e-6, ci
    run 3.8e-6 rel.
    On machines without CUDA these cases skip with a reason.
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
        x, y = loop.data["x"], loop.data["y"]  # (T, 1) each
        obs = loop.observer
        while loop.epoch < config.epochs:
            total = np.float32(0.0)  # the article's float32 running sum, as printed
            context = ad.zero_state(1)  # (1, H)
            for j in range(config.seq_length):
                loss, context = ad.forward_loss({"x": x[j:j + 1], "y": y[j:j + 1]}, context)
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


# Golden tolerance for the per-epoch summed loss. Measured with `rnn-harness calibrate`
# (AMD EPYC 2-core VM, torch 2.13.0, mxnet 1.9.1, numpy 1.23.5), max relative difference:
#                      1-ulp weight nudge (noise)   lr x 1.01 (signal)
#   torch  ci/tutorial        1.2e-6 / 3.1e-5          1.3e-2 / 7.2e-2
#   mxnet  ci/tutorial        1.2e-6 / 2.4e-5          7.3e-3 / 1.5e-2
# rtol 3e-4 sits 10x above the worst noise and 24x below the weakest signal.
# Observables and the prediction pass (issue 10), measured the same way with lr x 1.001
# (2-core AMD EPYC, torch 2.13.0, mxnet 1.9.1, jax 0.10.2), worst noise / weakest signal
# over the three ports, relative (predictions absolute: values cross 0):
#                      ci (60 epochs)           tutorial (300 epochs)
#   grad_norm_mean     5.0e-6 / 3.3e-4          1.5e-5 / 5.1e-4
#   grad_norm_max      6.5e-6 / 3.9e-4          2.0e-5 / 1.5e-3
#   param_norm         9.5e-8 / 5.3e-5          9.9e-7 / 7.3e-5
#   update_norm_mean   4.7e-6 / 9.2e-4          1.5e-5 / 1.1e-3
#   predictions (abs)  1.2e-6 / 5.9e-5          9.7e-6 / 1.3e-4
# The tutorial's figures (loss: 3.1e-5 / 1.5e-3 at lr x 1.001) fix the shared table; ci's
# smaller noise gets its own, so the ci prefix catches lr +0.1 % in every column.
TOLERANCES = {
    "default": Tolerance(rtol=3e-4, atol=0.0,
                         why="10x the 1-ulp noise (3.1e-5), 1/24 of a 1% lr change"),
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

# MXNet port loaded with the torch port's initial weights, seed 0, 300 epochs: the summed
# epoch loss differs by at most 3.2e-5 relative (epoch 221); predictions by 7.9e-6 abs.
# Same order as the 1-ulp noise: both do float32 math with different kernels.
#: Cross-framework agreement, gated over the first 60 epochs (the ci run): from epoch ~74 two
#: of ten seeds are chaotic. Measured (tutorial, seeds 0-9, from torch's initial weights;
#: 2-core AMD EPYC VM, torch 2.13.0, mxnet 1.9.1, jax 0.10.2): torch's own 1-ulp noise over
#: epochs 0-59 <= 1.5e-5 and the JAX follower's gap <= 1.0e-5 (seed 9 worst), MXNet's 3.2e-5
#: (seed 0); but seed 9's 1-ulp noise passes 3e-4 at epoch 75 and seed 4's at 112 (to 2.9
#: and 1.7 relative), and JAX leaves 3e-4 there too (epochs 74 and 113), as any other
#: rounding would. Past the horizon the curves are reported, not gated: seed envelopes
#: compare distributions there.
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


#: How the invariant checks (harness/invariants_checks.py) exercise these ports. The port
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

# Checkpoint segments (issue 10): the whole 300-epoch run in CI time. Checkpoints every 20
# epochs, each segment 20 epochs long, so segments cover epochs 20-299 and the ci prefix
# 0-59: every epoch is gated. Measured with `harness.calibrate.calibrate_segments` (2-core
# AMD EPYC VM, torch 2.13.0, numpy 1.23.5; elman_sine/torch, 14 segments): max over all
# segments of the 1-ulp noise against the +0.1 % lr signal, relative (absolute):
#   epoch loss 1.4e-5 vs 1.8e-3, grad norm mean 8.3e-6 vs 9.9e-4, param norm 1.5e-7 vs
#   2.2e-5, update norm mean 8.2e-6 vs 1.6e-3;
#   step loss abs 1.6e-7 vs 1.9e-5, grad norm abs 2.4e-6 vs 4.0e-4, param norm rel 1.7e-7 vs
#   2.6e-5, update norm abs 2.6e-7 vs 4.6e-5 (per-step losses near 0 make relative
#   differences meaningless there, so steps are gated on an absolute scale).
# Each tolerance sits ~10x above that noise and ~10x below that signal.
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
