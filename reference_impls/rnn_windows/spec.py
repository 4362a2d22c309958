"""rnn_windows: what both ports share (config, profiles, data, loop shape, tolerances).

Source: seed article 001, "predicting a sine wave with nn.RNN" (PyTorch ``nn.RNN`` +
``nn.Linear``, ``nn.MSELoss``, ``torch.optim.Adam``); modernised oracle in
tests/oracles/rnn_windows_original.py.

Data: ``sin(linspace(0, pi, 100))`` as (100, 1) float64, cut into 95 windows:
x[i] = points i..i+4 (5, 1), y[i] = point i+5 (1,); both rounded to float32 by
``torch.Tensor`` in the article (``make_data`` does the same rounding).

Loop shape (``Schedule`` below, the one loop every framework's adapter runs):
  torch.manual_seed(0); model = RNN(1, 10) then Linear(10, 1)   # draw order
  for each of 100 epochs: hidden = None (zeros), total_loss = 0 (Python float)
    for each window i in order (95 windows, batch of one):
      zero grads
      out, hidden = rnn(x[i] as (1, 5, 1), hidden)     # (1, 5, 10), (1, 1, 10)
      hidden = hidden.detach()                         # carried across windows, cut
      output = fc(out.view(-1, 10))                    # (5, 1): every time step
      loss = MSELoss(output, y[i])                     # y[i] is (1,): see quirk 1
      backward; one Adam step
      total_loss += loss.item()                        # float64 sum of float32 losses
    the epoch figure is total_loss (what the article prints)

Quirk 1 (kept in the default ports): the output has 5 rows, one per time step, while the
target has one element, so ``MSELoss`` broadcasts the target against all 5 outputs and the
loss is the mean over the 5 steps of (output_t - y)^2: the network is asked to predict the
*next* point from every prefix of the window. PyTorch 2 warns ("Using a target size ...
different to the input size"); the torch ports suppress exactly that UserWarning around
the loss call. Consequence: the article's run (seed 0) does NOT converge, and the golden
records that trajectory, as the issue author reported it; the run is chaotic (see
TOLERANCES). The figures are in docs/tutorials/rnn_windows.md.

Quirk 2: the hidden state is carried from one window to the next (detached), although the
windows overlap by 4 points, so each window starts from a state that has already seen its
own first points. Kept in every variant.

Variant "last" (ports ``rnn_windows/torch-last`` and ``rnn_windows/mxnet-last``): the
loss uses the last time step's output only (``output[-1:]``), which is what the article
meant; everything else is identical. It does not converge either (docs/tutorials/
rnn_windows.md). Carrying the hidden state across overlapping windows (quirk 2) stays in
the variant.

Reconstruction: the article's code is known from the issue text (seed article 001); the
oracle makes it concrete as ``torch.Tensor(x[i]).unsqueeze(0)`` / ``torch.Tensor(y[i])``
per window, ``optimizer.zero_grad()`` before the forward, ``hidden = hidden.detach()``
right after it and ``total_loss += loss.item()``. It reproduces every figure the issue
author measured (0.45 at first, past 10 within 15 epochs, then 3..11), which is the
evidence that the reconstruction is right.

Deviations of the ports (none changes a value; the torch ports equal the oracle bit for bit):
  * ``out.reshape(-1, H)`` for the article's ``out.view(-1, H)``: equal values for the
    article's batch of one, and it also accepts B > 1, where batch_first output is not
    contiguous and ``view`` raises.
  * ``optimizer.zero_grad()`` runs in the adapter's ``backward``, just before
    ``loss.backward()``, not before the forward: nothing reads the gradients in between.
  * the MXNet ports pass an explicit zero state for ``hidden = None``.
  * ``outputs()`` below is ours: the issue text shows no prediction pass.

Outputs after training (not in the issue text, our choice): the prediction for each of the
95 windows is the last time step's output of a forward pass from a zero hidden state, without
updates (``outputs()["predictions"]``, 95 floats).

Canonical parameters (x @ W convention; ``PARAMS`` below says how each framework stores
them): W_xh (I, H), W_hh (H, H), b_xh (H,), b_hh (H,), W_hq (H, 1), b_q (1,), one table
for both variants. A one-bias port's ``b_h`` equals ``b_xh + b_hh``; ``set_params`` here
also accepts ``b_h`` alone (``fold_lone_bias``: loaded as b_xh = b_h, b_hh = 0), which
changes rounding but not the function.

Port boundary: ``forward({"x": (B, T, 1)[, "h0": (1, B, H)]})`` returns ``"y"`` as the
article's (B*T, 1) (every time step, ``out.view(-1, H)``) and ``"h"`` (1, B, H).
``loss_and_grads`` takes one window as the article does (x (1, 5, 1), y (1,), optional h0)
and returns the port's loss (all steps, or the last for "-last") and every canonical grad.

Initialisation: torch draws U(-1/sqrt(H), 1/sqrt(H)) for the four RNN tensors and, through
``kaiming_uniform_(a=sqrt(5))`` and the bias rule, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
fan_in = H for the Linear layer: one bound, 1/sqrt(10), for all six. The MXNet port draws the
same distributions in the same order from MXNet's generator (so its golden differs).

Adam, MXNet against PyTorch (both with lr 0.01, betas 0.9/0.999, eps 1e-8, no weight decay):
  torch:  w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
  mxnet:  w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
MXNet folds both bias corrections into the learning rate (in Python float64, per
parameter) and adds eps to the uncorrected sqrt(v): its effective eps is
eps / sqrt(1 - b2^t), 3.2e-7 at t = 1, 1e-8 only as t grows. (``mxnet.optimizer.Adam``'s
docstring prints the lr factor as sqrt(1 - b1^t) / (1 - b2^t); the code uses the formula
above.) Its moments also round differently. The MXNet port keeps MXNet's own Adam; the
effect is inside CROSS_FRAMEWORK below.

Invariants: ``PROBE`` below (checks in ``harness.invariants``, tests in
tests/reference_impls/test_invariants.py).

The measurements behind every tolerance below (noise against signal, cross-framework,
invariants, devices, segments) are in docs/tutorials/rnn_windows.md; each tolerance keeps
its one-line ``why``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from harness.interface import (
    Adapter,
    EpochRecord,
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
    "nn.RNN sine-window tutorial, PyTorch (seed article 001); "
    "modernised oracle in tests/oracles/rnn_windows_original.py"
)


@dataclass(frozen=True)
class Config:
    epochs: int = 100
    lr: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    n_points: int = 100
    seq_length: int = 5
    input_size: int = 1
    hidden_size: int = 10
    output_size: int = 1

    @property
    def num_windows(self) -> int:
        return self.n_points - self.seq_length


TUTORIAL = Config()
# ci: the first 20 epochs; only epochs 0-1 are gated (see TOLERANCES), the rest shows the
# climb in reports.
PROFILES = {"tutorial": TUTORIAL, "ci": replace(TUTORIAL, epochs=20)}


def make_data(config: Config) -> dict[str, np.ndarray]:
    """The article's windows: x (N, T, 1) and y (N, 1), float32, N = n_points - seq_length."""
    data = np.sin(np.linspace(0, np.pi, config.n_points)).reshape(-1, 1)  # float64
    t, n = config.seq_length, config.num_windows
    x = np.stack([data[i:i + t] for i in range(n)])
    y = np.stack([data[i + t] for i in range(n)])
    return {"x": x.astype(np.float32), "y": y.astype(np.float32)}


def init_bound(config: Config) -> float:
    """The bound of every uniform initial draw (torch's nn.RNN and nn.Linear rules)."""
    return 1.0 / math.sqrt(config.hidden_size)


#: One table for both variants. Both RNN layers store their weights (out, in), transposed
#: against ``x @ W``; its row order is torch's draw order, which the MXNet port follows.
PARAMS = ParamTable((
    Param("W_xh", "(I, H)", {"torch": "rnn.weight_ih_l0.T", "mxnet": "rnn.l0_i2h_weight.T",
                             "jax": "W_xh"}),
    Param("W_hh", "(H, H)", {"torch": "rnn.weight_hh_l0.T", "mxnet": "rnn.l0_h2h_weight.T",
                             "jax": "W_hh"}),
    Param("b_xh", "(H,)", {"torch": "rnn.bias_ih_l0", "mxnet": "rnn.l0_i2h_bias",
                           "jax": "b_xh"}),
    Param("b_hh", "(H,)", {"torch": "rnn.bias_hh_l0", "mxnet": "rnn.l0_h2h_bias",
                           "jax": "b_hh"}),
    Param("W_hq", "(H, 1)", {"torch": "fc.weight.T", "mxnet": "fc.weight.T", "jax": "W_hq"},
          "the Linear / Dense head on every time step"),
    Param("b_q", "(1,)", {"torch": "fc.bias", "mxnet": "fc.bias", "jax": "b_q"}),
))


def fold_lone_bias(params: Params, names: tuple[str, ...]) -> Params:
    """A one-bias model's ``b_h`` as this model's two biases (b_xh = b_h, b_hh = 0); any
    other mismatch is left for the parameter table to report."""
    params = {k: np.asarray(v) for k, v in params.items()}
    if "b_h" in params and "b_xh" not in params:
        b_h = params.pop("b_h")
        params.update(b_xh=b_h, b_hh=np.zeros_like(b_h))
    return params


class Schedule:
    """The article's loop: per epoch the state restarts at zeros, the windows run in order,
    one Adam step each, the state carried across windows and cut."""

    def prepare(self, config: Config, seed: int) -> Loop:
        return Loop(data=make_data(config))

    def epochs(self, ad: Adapter, config: Config, loop: Loop) -> Iterator[EpochRecord]:
        x, y = loop.data["x"], loop.data["y"]  # (N, T, 1), (N, 1)
        obs = loop.observer
        while loop.epoch < config.epochs:
            hidden = ad.zero_state(1)  # the article's hidden = None, every epoch
            total_loss = 0.0  # Python float sum of loss.item(), as printed
            for i in range(config.num_windows):
                # y[i] is (1,): broadcast against every time step's output (quirk 1)
                loss, hidden = ad.forward_loss({"x": x[i:i + 1], "y": y[i]}, hidden)
                hidden = ad.cut(hidden)  # hidden.detach(): carried to the next window
                ad.backward(loss)  # zero_grad, then backward
                obs.gradients(ad)
                ad.update()  # one Adam step
                value = ad.loss_value(loss)
                obs.step(ad, value)
                total_loss += value
            loop.epoch += 1
            yield EpochRecord(metrics={"loss": total_loss, **obs.epoch()},
                              items=config.num_windows)

    def outputs(self, ad: Adapter, config: Config, loop: Loop) -> dict[str, Any]:
        """Last-step prediction for every window, each from a zero hidden state."""
        x = loop.data["x"]
        return {"predictions": [float(ad.forward({"x": x[i:i + 1]})["y"][-1, 0])
                                for i in range(config.num_windows)]}  # y: (T, 1)


# Golden tolerances (measurements: docs/tutorials/rnn_windows.md). The run is chaotic: a
# 1-ulp nudge grows to O(1) by epoch 4 in every port, so over the full run the noise is as
# large as the lr signal. Epochs 0 and 1 separate them by more than three decades, so only
# those are gated (horizon=2); later epochs are recorded and reported, not gated. Outputs
# are not compared: after 20 epochs the 1-ulp noise moves the predictions as much as
# lr +0.1 % does.
_CHAOTIC = "chaotic after epoch 1; later epochs reported, not gated"
TOLERANCES = {
    "default": Tolerance(
        rtol=1e-4, atol=0.0, horizon=2,
        why="noise across kernel variants: 3.1e-6 (torch-last aten-default; 1-ulp <= 1.1e-5); "
            "signal of lr +0.1 %: 1.4e-3; epochs 0-1, chaotic after: reported, not gated"),
    "grad_norm_mean": Tolerance(rtol=2e-4, horizon=2,
                                why=f"noise 1.8e-5, signal >= 2.9e-4; {_CHAOTIC}"),
    "grad_norm_max": Tolerance(rtol=5e-4, horizon=2,
                               why=f"noise 4.5e-5, signal >= 1.5e-4; {_CHAOTIC}"),
    "param_norm": Tolerance(rtol=5e-5, horizon=2,
                            why=f"noise 4.4e-6, signal >= 1.3e-4; {_CHAOTIC}"),
    "update_norm_mean": Tolerance(rtol=4e-5, horizon=2,
                                  why=f"noise 3.5e-6, signal >= 3.6e-4; {_CHAOTIC}"),
    "clip_fraction": Tolerance(rtol=0.0, why="the tutorial does not clip: always 0"),
}

# Cross-framework: the MXNet port from the torch port's weights differs by MXNet's Adam
# formula (module docstring); chaotic after epoch 1 as in the golden case, so epochs 0-1
# are gated (figures: docs/tutorials/rnn_windows.md).
CROSS_FRAMEWORK = {"default": Tolerance(
    rtol=5e-3, atol=0.0, horizon=2,
    why="measured max 1.7e-3 on epochs 0-1 (MXNet's Adam eps/bias-correction formula), 3x "
        "margin; chaotic afterwards, reported not gated")}

# ---------------------------------------------------------------- invariant probe
def _probe_config(sizes: Mapping[str, int]) -> Config:
    return replace(TUTORIAL, input_size=sizes["inputs"], hidden_size=sizes["hidden"],
                   seq_length=sizes["steps"])


def _probe_batch(sizes: Mapping[str, int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    b, t = sizes["batch"], sizes["steps"]
    return {"x": rng.uniform(-1, 1, (b, t, sizes["inputs"])).astype(np.float32),
            "y": rng.uniform(-1, 1, (1,)).astype(np.float32),  # one target per window
            "h0": rng.uniform(-1, 1, (1, b, sizes["hidden"])).astype(np.float32)}


#: How the invariant checks exercise these ports: batch-first x (B, T, I), the window's one
#: target y (1,) (broadcast against every output row, quirk 1), outputs (B*T, 1) as the
#: article's ``out.view(-1, H)``, state (1, B, H). Tutorial: B 1, T 5, I 1, H 10.
PROBE = Probe(
    tutorial="rnn_windows",
    sizes={"batch": (1, 4), "steps": (1, 6), "inputs": (1, 3), "hidden": (1, 8)},
    make_config=_probe_config,
    make_batch=_probe_batch,
    output_shapes=lambda s: {"y": (s["batch"] * s["steps"], 1),
                             "h": (1, s["batch"], s["hidden"])},
    layout="batch-first (NTC) x (B, T, I); outputs (B*T, 1); state (1, B, H)",
    cross_tolerance=Tolerance(rtol=1e-4, atol=1e-6,
                              why="float32 rounding; measured over 200 drawn examples per "
                              "pair (800 for torch-last vs jax-last): default max abs 9.5e-7 "
                              "(within atol); last needs rtol 1.3e-6 (mxnet), 1.2e-5 (jax, "
                              "max abs 8.6e-6, grad b_xh) at atol 1e-6, and a Hypothesis draw "
                              "once needed 4.8e-5: rtol 1e-4 = 2x that worst draw"),
    device_tolerance=Tolerance(rtol=1e-4, atol=6e-5,
        why=(
        "measured one step: atol needed at rtol 1e-4 is 8.2e-6 "
        "(default) / 2.0e-5 (last), max abs 3.0e-5; ~3x margin; ci "
        "trajectory chaotic (8.5 rel by epoch 19), short run passes; "
        "H100 vs the lent machine's Xeon CPU, torch 2.11.0+cu130, "
        "TF32 off (benchmarks/measure_devices.py)")),
    short_sizes={"batch": 1, "steps": 5, "inputs": 1, "hidden": 10},
    short_epochs=2,
)

# Checkpoint segments. The run is chaotic even from an exact state (1-ulp noise passes
# 1e-4 within ~25 steps), so each epoch's first 3 steps are gated (step_limit), from a
# checkpoint at every epoch; epoch figures are not compared. The "-last" ports fit their
# last step almost exactly, where float32 rounding is a large relative error, hence the
# absolute floors of the loss and gradient norm (calibrate_segments figures and the CPU
# that needed them: docs/tutorials/rnn_windows.md).
SEGMENTS = SegmentPlan(
    spacing=1, length=1, step_limit=3,
    epoch_tolerances={"default": Tolerance(rtol=0.0, horizon=0,
                                           why="not compared: chaotic within an epoch")},
    step_tolerances={"loss": Tolerance(rtol=5e-4, atol=2e-10,
                                       why="noise 5.2e-5; -last: 1.9e-11 absolute"),
                     "grad_norm": Tolerance(rtol=7e-4, atol=3e-6,
                                            why="noise 7.0e-5; -last: 3.4e-7 absolute"),
                     "param_norm": Tolerance(rtol=3e-7, why="noise 3.1e-8"),
                     "update_norm": Tolerance(rtol=3e-4,
                                              why="noise 2.8e-5, signal >= 1.0e-3"),
                     "clipped": Tolerance(rtol=0.0, why="no clipping: always 0")},
    why="1-ulp noise vs lr +0.1 % over each epoch's first 3 steps (calibrate_segments)")

SPEC = TutorialSpec(
    name="rnn_windows",
    source=SOURCE,
    profiles=PROFILES,
    metrics=("loss",),
    tolerances=TOLERANCES,
    default_seed=0,
    cross_framework=CROSS_FRAMEWORK,
    schedule=Schedule(),
    params={"": PARAMS},
    adapt_params=fold_lone_bias,
    items="windows",
    probe=PROBE,
    segments=SEGMENTS,
    metric_labels={"loss": "loss (sum over the epoch's windows of each window's MSE)"},
)
