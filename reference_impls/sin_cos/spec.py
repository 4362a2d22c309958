"""sin_cos: what both ports share (config, profiles, data, loop shape, tolerances).

Source: the "RNN regressor" tutorial (seed article 004, MorvanZhou's PyTorch tutorial
``403_RNN_regressor.py``, PyTorch 0.1/0.3 ``Variable`` era): an ``nn.RNN`` reads a window
of sin(t) and a ``Linear`` read-out predicts cos(t) at every time step.

Loop shape (``Schedule`` below, the one loop every framework's adapter runs):
  torch.manual_seed(1); rnn = RNN(input 1, hidden 32, 1 layer, batch_first) then Linear(32, 1)
  optimizer = Adam(lr=0.02); loss = MSELoss (mean over the 10 points); h_state = None
  for step k in range(60):                       # one harness "epoch" = one article step
    t = linspace(k*pi, (k+1)*pi, 10, dtype=float32)   # endpoint included: windows overlap
    x, y = sin(t), cos(t) shaped (1, 10, 1)
    r_out, h_state = rnn(x, h_state)             # (1, 10, 32), (1, 1, 32)
    prediction = stack([out(r_out[:, i, :]) for i in range(10)], dim=1)   # (1, 10, 1)
    h_state = h_state.data                       # carried to the next step, graph cut
    loss = mse(prediction, y); zero_grad; backward; Adam step
  the per-step figure is that step's loss.item() (the article prints nothing; it plots y and
  prediction of every step, so ``outputs`` holds the last step's t, target and prediction,
  taken from the forward pass before that step's update, as plotted).
The carried h_state lives in ``Loop.carry`` (None: the article's zeros) and the plotted
step in ``Loop.extra``, so the loop's state between epochs is the schedule's. The adapters
also provide ``last_prediction()``: the prediction of their latest ``forward_loss``.

Quirks kept:
  * linspace includes the endpoint, so step k's last point (k+1)*pi is step k+1's first,
    and the data windows are 10 points over pi, not the plotted 100 points over 2*pi.
    (A later revision of the article uses ``endpoint=False`` and 100 steps; this spec
    follows the 60-step revision named in the issue.)
  * The first step runs from ``h_state = None`` (zeros); every later step starts from the
    previous step's final hidden state, which depends on the weights of the previous step.
  * The read-out is applied per time step in a Python loop and stacked (the article's
    "this is where torch is dynamic" loop), not as one batched matmul.
  * np.sin/np.cos on the float32 linspace run numpy's SIMD float32 kernels (as the
    article does); their last-bit results may differ between CPUs (AVX512 / AVX2 / NEON)
    and are a possible cross-CPU noise source, covered by the golden tolerance below.

Canonical parameters (``x @ W`` convention; ``PARAMS`` below says how each framework
stores them): W_xh (I, H), W_hh (H, H), b_xh (H,), b_hh (H,), W_hq (H, 1), b_q (1,).
Both frameworks keep two RNN biases, so both are exposed; the single-bias form of other
tutorials, ``b_h = b_xh + b_hh``, is exact in value but not in rounding, so only the
two-bias form is loaded by ``set_params``.

Initialisation: torch draws, in this order, weight_ih, weight_hh, bias_ih, bias_hh
(all U(-1/sqrt(H), 1/sqrt(H))), then Linear weight (kaiming_uniform(a=sqrt(5)), i.e.
U(-1/sqrt(32), 1/sqrt(32))) and bias (U(-1/sqrt(32), 1/sqrt(32))). With H = 32 every
parameter is U(-1/sqrt(32), 1/sqrt(32)), so the MXNet port draws them all from
``mx.init.Uniform(1/sqrt(32))`` in the same parameter order (other RNG, same law).

Deviation (MXNet only) - Adam: gluon's Adam and torch's Adam differ in where eps enters.
  torch:  w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
  mxnet:  w -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)
        = lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps/sqrt(1-b2^t))
i.e. MXNet's eps is, in torch's terms, eps/sqrt(1-b2^t): 3.2e-7 at t=1, 1.0e-7 at t=10,
4.1e-8 at t=60. MXNet also rounds the corrected learning rate to float32 before the
kernel. The port keeps gluon's Adam (what an MXNet user of the article would write) with
torch's default hyperparameters; its effect is the CROSS_FRAMEWORK tolerance below.

Invariants: ``PROBE`` below (checks in ``harness.invariants``, tests in
tests/reference_impls/test_invariants.py).

The measurements behind every tolerance below (noise against signal, cross-framework,
invariants, devices, segments, timings) are in docs/tutorials/sin_cos.md; each tolerance
keeps its one-line ``why``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol, cast

import numpy as np

from harness.interface import (
    Adapter,
    EpochRecord,
    Loop,
    Param,
    ParamTable,
    Probe,
    SegmentPlan,
    Tolerance,
    TutorialSpec,
)

SOURCE = (
    "RNN regressor, sin -> cos (seed article 004: MorvanZhou PyTorch-Tutorial "
    "403_RNN_regressor.py, torch 0.1/0.3 Variable API, 60 steps); modernised oracle in "
    "tests/oracles/sin_cos_original.py"
)


@dataclass(frozen=True)
class Config:
    # One harness epoch is one article training step (one 10-point window).
    epochs: int = 60
    lr: float = 0.02
    time_step: int = 10
    input_size: int = 1
    hidden_size: int = 32
    num_layers: int = 1
    # torch.optim.Adam defaults, used by the article and given to gluon's Adam too
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8


TUTORIAL = Config()
PROFILES = {"tutorial": TUTORIAL, "ci": replace(TUTORIAL, epochs=30)}


def make_step(config: Config, step: int) -> dict[str, np.ndarray]:
    """Step ``step``'s window as the article builds it: t (T,), x and y (1, T, 1), float32."""
    start, end = step * np.pi, (step + 1) * np.pi
    t = np.linspace(start, end, config.time_step, dtype=np.float32)
    # float32 SIMD sin/cos, exactly as the article (a possible cross-CPU noise source)
    x_np, y_np = np.sin(t), np.cos(t)
    return {"t": t, "x": x_np[np.newaxis, :, np.newaxis], "y": y_np[np.newaxis, :, np.newaxis]}


def make_data(config: Config) -> list[dict[str, np.ndarray]]:
    """Every step's window, in training order (each computed on its own, as the article)."""
    return [make_step(config, k) for k in range(config.epochs)]


def last_step_outputs(window: Mapping[str, np.ndarray] | None,
                      prediction: np.ndarray | None) -> dict[str, list[float]]:
    """What the article plots after its last step: t, the cos target, and the prediction
    made before that step's update (empty before any step ran)."""
    if window is None or prediction is None:
        return {}
    return {"t": window["t"].tolist(), "target": window["y"].ravel().tolist(),
            "prediction": np.asarray(prediction).ravel().tolist()}


#: Both RNN layers store their weights (out, in): transposed against ``x @ W``.
PARAMS = ParamTable((
    Param("W_xh", "(I, H)", {"torch": "rnn.weight_ih_l0.T", "mxnet": "rnn.l0_i2h_weight.T",
                             "jax": "W_xh"}),
    Param("W_hh", "(H, H)", {"torch": "rnn.weight_hh_l0.T", "mxnet": "rnn.l0_h2h_weight.T",
                             "jax": "W_hh"}),
    Param("b_xh", "(H,)", {"torch": "rnn.bias_ih_l0", "mxnet": "rnn.l0_i2h_bias",
                           "jax": "b_xh"}),
    Param("b_hh", "(H,)", {"torch": "rnn.bias_hh_l0", "mxnet": "rnn.l0_h2h_bias",
                           "jax": "b_hh"}),
    Param("W_hq", "(H, 1)", {"torch": "out.weight.T", "mxnet": "out.weight.T", "jax": "W_hq"},
          "the per-time-step read-out (Linear / Dense)"),
    Param("b_q", "(1,)", {"torch": "out.bias", "mxnet": "out.bias", "jax": "b_q"}),
))


class PlottingAdapter(Adapter, Protocol):
    """What this schedule needs of an adapter besides ``Adapter``: the article plots each
    step's prediction, made by the forward pass before that step's update."""

    def last_prediction(self) -> np.ndarray:
        """The prediction (1, T, 1) of the latest ``forward_loss``."""


class Schedule:
    """The article's loop: one Adam step per window, h_state carried across steps and cut."""

    def prepare(self, config: Config, seed: int) -> Loop:
        return Loop(data={"windows": make_data(config)})

    def epochs(self, ad: Adapter, config: Config, loop: Loop) -> Iterator[EpochRecord]:
        obs = loop.observer
        while loop.epoch < config.epochs:
            window = loop.data["windows"][loop.epoch]
            h_state = ad.zero_state(1) if loop.carry is None else loop.carry  # None: zeros
            loss, h_state = ad.forward_loss({"x": window["x"], "y": window["y"]}, h_state)
            loop.carry = ad.cut(h_state)  # h_state.data: carried to the next step, graph cut
            ad.backward(loss)  # zero_grad, then backward
            obs.gradients(ad)
            ad.update()  # one Adam step
            value = ad.loss_value(loss)
            obs.step(ad, value)
            # the plotted step, as JSON (floats of the float32 values) so checkpoints keep it
            plotted = cast(PlottingAdapter, ad).last_prediction()  # (1, T, 1)
            loop.extra["plotted"] = {"step": loop.epoch, "prediction": plotted.ravel().tolist()}
            loop.epoch += 1
            yield EpochRecord(metrics={"loss": value, **obs.epoch()}, items=config.time_step)

    def outputs(self, ad: Adapter, config: Config, loop: Loop) -> dict[str, Any]:
        """The last step's plot (``last_step_outputs``)."""
        plotted = loop.extra.get("plotted")
        if plotted is None:
            return {}
        window = loop.data["windows"][plotted["step"]]
        return last_step_outputs(window, np.asarray(plotted["prediction"]))


# Golden tolerances (measurements: docs/tutorials/sin_cos.md). The tutorial-length noise
# sets the shared table; ci gets its own, which catches lr +0.1 % in the prefix itself.
# Data nudges raise the noise 2.2x at ci and 20x at tutorial length; the tolerances allow
# for the same factors.
TOLERANCES = {
    "default": Tolerance(
        rtol=0.05, atol=0.0,
        why="noise across kernel variants: 5.8e-4 (mxnet onednn-avx2; 1-ulp <= 1.2e-2, "
            "mxnet); signal of lr +0.1 %: 0.53 (torch); tutorial, 2-core x86 CPU"),
    "observables": Tolerance(rtol=0.05, why="tutorial noise <= 5.7e-4 (x20 with data "
                             "nudges, as the loss's), signal >= 7.0e-2"),
    "param_norm": Tolerance(rtol=1e-3, why="tutorial noise 6.5e-6 (x20: 1.3e-4), signal "
                            ">= 2.0e-3"),
    "clip_fraction": Tolerance(rtol=0.0, why="the article does not clip: always 0"),
    "output:prediction": Tolerance(rtol=0.0, atol=1e-2, why="tutorial noise 1.3e-4 abs "
                                   "(x20: 2.7e-3), signal >= 2.6e-2 abs"),
    "output:t": Tolerance(rtol=1e-6, why="the data's time grid: float32, exact here"),
    "output:target": Tolerance(rtol=1e-6, atol=1e-7,
                               why="float32 SIMD sin/cos of the grid: a few ulps across CPUs"),
}
PROFILE_TOLERANCES = {"ci": {
    "default": Tolerance(rtol=2e-4, why="noise across kernel variants: 4.8e-6 (torch "
                         "aten-default; 1-ulp <= 1.7e-5, data nudge, mxnet); signal of lr "
                         "+0.1 %: 3.2e-2 (mxnet)"),
    "observables": Tolerance(rtol=3e-4, why="ci noise <= 1.4e-5 (x2.2: 3.0e-5), signal >= "
                             "1.4e-2"),
    "param_norm": Tolerance(rtol=2e-6, why="ci noise 7.8e-8 (x2.2: 1.7e-7), signal >= 3.4e-4"),
    "output:prediction": Tolerance(rtol=0.0, atol=3e-5, why="ci noise 1.4e-6 abs (x2.2: "
                                   "3.1e-6), signal >= 8.0e-3 abs"),
}}

CROSS_FRAMEWORK = {"default": Tolerance(
    rtol=0.25, atol=0.0,
    why="measured max 0.117 (seed 1, 60 steps; 0.159 worst of seeds 1-5), from gluon Adam's "
        "eps placement; 2.1x margin")}

# ---------------------------------------------------------------- invariant probe
def _probe_config(sizes: Mapping[str, int]) -> Config:
    return replace(TUTORIAL, input_size=sizes["inputs"], hidden_size=sizes["hidden"],
                   time_step=sizes["steps"])


def _probe_batch(sizes: Mapping[str, int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    b, t = sizes["batch"], sizes["steps"]
    return {"x": rng.uniform(-1, 1, (b, t, sizes["inputs"])).astype(np.float32),
            "y": rng.uniform(-1, 1, (b, t, 1)).astype(np.float32),
            "h0": rng.uniform(-1, 1, (1, b, sizes["hidden"])).astype(np.float32)}


#: How the invariant checks exercise these ports: batch-first x (B, T, I), y (B, T, 1),
#: state (layers=1, B, H). The tutorial's sizes are batch 1, steps 10, input 1, hidden 32.
PROBE = Probe(
    tutorial="sin_cos",
    sizes={"batch": (1, 4), "steps": (1, 8), "inputs": (1, 3), "hidden": (1, 8)},
    make_config=_probe_config,
    make_batch=_probe_batch,
    output_shapes=lambda s: {"y": (s["batch"], s["steps"], 1),
                             "h": (1, s["batch"], s["hidden"])},
    layout="batch-first (NTC) x (B, T, I); state (1, B, H)",
    cross_tolerance=Tolerance(rtol=1e-5, atol=1e-6,
                              why="measured over 40 drawn examples (B 1-4, T 1-8, I 1-3, H 1-8): "
                              "max "
                              "abs 4.8e-7, within atol 1e-6 everywhere; 2x margin on abs"),
    device_tolerance=Tolerance(rtol=1e-4, atol=6e-4,
        why=(
        "measured one step: atol needed at rtol 1e-4 is 1.9e-4 (max "
        "abs 2.6e-4, cuDNN RNN gradients); ~3x margin; ci trajectory "
        "1.0e-4 rel; H100 vs the lent machine's Xeon CPU, torch "
        "2.11.0+cu130, TF32 off (benchmarks/measure_devices.py)")),
    short_sizes={"batch": 1, "steps": 10, "inputs": 1, "hidden": 32},
    short_epochs=10,
)

# Checkpoint segments: checkpoints every 10 steps, each segment 10 steps long, so segments
# cover steps 10-59 and the ci prefix 0-29: every step of the run is gated
# (calibrate_segments figures: docs/tutorials/sin_cos.md).
_SEGMENT_TOLERANCES = {
    "default": Tolerance(rtol=2e-5, why="loss noise <= 1.3e-6, signal >= 1.5e-2"),
    "loss": Tolerance(rtol=2e-5, why="noise <= 1.3e-6, signal >= 1.5e-2"),
    "grad_norm": Tolerance(rtol=3e-5, why="noise <= 2.0e-6, signal >= 3.1e-2"),
    "grad_norm_mean": Tolerance(rtol=3e-5, why="noise <= 2.0e-6, signal >= 3.1e-2"),
    "grad_norm_max": Tolerance(rtol=3e-5, why="noise <= 2.0e-6, signal >= 3.1e-2"),
    "param_norm": Tolerance(rtol=2e-7, why="noise <= 1.7e-8, signal >= 1.3e-4"),
    "update_norm": Tolerance(rtol=4e-6, why="noise <= 3.6e-7, signal >= 3.1e-3"),
    "update_norm_mean": Tolerance(rtol=4e-6, why="noise <= 3.6e-7, signal >= 3.1e-3"),
    "clipped": Tolerance(rtol=0.0, why="no clipping: always 0"),
    "clip_fraction": Tolerance(rtol=0.0, why="no clipping: always 0"),
}
SEGMENTS = SegmentPlan(spacing=10, length=10, epoch_tolerances=_SEGMENT_TOLERANCES,
                       step_tolerances=_SEGMENT_TOLERANCES,
                       why="1-ulp noise vs lr +0.1 % per segment (calibrate_segments)")

SPEC = TutorialSpec(
    name="sin_cos",
    source=SOURCE,
    profiles=PROFILES,
    metrics=("loss",),
    tolerances=TOLERANCES,
    profile_tolerances=PROFILE_TOLERANCES,
    default_seed=1,  # the article's torch.manual_seed(1)
    cross_framework=CROSS_FRAMEWORK,
    schedule=Schedule(),
    params={"": PARAMS},
    items="time points",
    probe=PROBE,
    segments=SEGMENTS,
    metric_labels={"loss": "loss (MSE, mean over the window's 10 points; one step)"},
)
