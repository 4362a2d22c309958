"""A correct numpy RNN port ("toy") and deliberately broken copies, one bug per invariant.

Framework-free, so the meta-tests run in the ``unit`` tox env: each shows that its check
catches its bug, with a message naming the port, the parameter and the drawn example.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from harness.interface import EpochRecord, Tolerance, TutorialSpec
from harness.invariants import Probe
from harness.registry import PortEntry, Registry

NAMES = ("W_xh", "W_hh", "b_xh", "b_hh", "W_hq", "b_q")


@dataclass(frozen=True)
class ToyConfig:
    epochs: int = 3
    lr: float = 0.1
    batch: int = 2
    steps: int = 3
    inputs: int = 2
    hidden: int = 3


class ToyRnn:
    """h_t = tanh(x_t W_xh + b_xh + h W_hh + b_hh), y_t = h_t W_hq + b_q; loss = mean sq err.

    Batch: x (B, T, I), y (B, T, 1), optional h0 (B, H); forward -> y (B, T, 1), h (B, H).
    """

    port_id = "toy/numpy"
    dtype: Any = np.float32

    def build(self, config: ToyConfig, seed: int, device: str) -> None:
        self.config = config
        rng = np.random.default_rng(seed)
        i, h = config.inputs, config.hidden
        shapes = {"W_xh": (i, h), "W_hh": (h, h), "b_xh": (h,), "b_hh": (h,), "W_hq": (h, 1),
                  "b_q": (1,)}
        self.params = {k: rng.normal(0, 0.5, s).astype(self.dtype) for k, s in shapes.items()}
        self.data = [toy_batch({"batch": config.batch, "steps": config.steps,
                                "inputs": config.inputs, "hidden": config.hidden}, rng)
                     for _ in range(4)]

    def to_float64(self) -> None:
        self.dtype = np.float64
        self.params = {k: v.astype(np.float64) for k, v in self.params.items()}

    # -- model -------------------------------------------------------------------------
    def _bias(self) -> np.ndarray:
        return self.params["b_xh"] + self.params["b_hh"]

    def _run(self, x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        p, hs = self.params, [h]
        for t in range(x.shape[1]):
            hs.append(np.tanh(x[:, t] @ p["W_xh"] + hs[-1] @ p["W_hh"] + self._bias()))
        out = np.stack([hh @ p["W_hq"] + p["b_q"] for hh in hs[1:]], axis=1)  # (B, T, 1)
        return out, hs

    def _backward(self, x: np.ndarray, hs: list[np.ndarray], d_out: np.ndarray | None,
                  d_last: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Gradients of the params and of h0, given d loss / d out and d loss / d h_T."""
        p = self.params
        g = {k: np.zeros_like(v) for k, v in p.items()}
        dh = d_last
        for t in reversed(range(x.shape[1])):
            if d_out is not None:
                g["W_hq"] += hs[t + 1].T @ d_out[:, t]
                g["b_q"] += d_out[:, t].sum(0)
                dh = dh + d_out[:, t] @ p["W_hq"].T
            da = dh * (1 - hs[t + 1] ** 2)
            g["W_xh"] += x[:, t].T @ da
            g["W_hh"] += hs[t].T @ da
            g["b_xh"] += da.sum(0)
            g["b_hh"] += da.sum(0)
            dh = da @ p["W_hh"].T
        return g, dh

    def _inputs(self, batch: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(batch["x"], dtype=self.dtype)
        h0 = batch.get("h0")
        h = np.zeros((x.shape[0], self.config.hidden), self.dtype) if h0 is None else h0
        return x, np.asarray(h, dtype=self.dtype)

    def _cut(self, h: np.ndarray) -> np.ndarray | None:
        """The truncation point: the state carries on, its gradient does not (None)."""
        return None

    # -- Port protocol -----------------------------------------------------------------
    def train(self) -> Iterator[EpochRecord]:
        for _ in range(self.config.epochs):
            h, total = None, 0.0
            for batch in self.data:
                loss, grads = self.loss_and_grads({**batch, **({} if h is None else {"h0": h})})
                h = self.forward({**batch, **({} if h is None else {"h0": h})})["h"]
                self._step(grads)
                total += loss
            yield EpochRecord(metrics={"loss": total}, items=len(self.data))

    def _step(self, grads: Mapping[str, np.ndarray]) -> None:
        for k in self.params:
            self.params[k] = (self.params[k] - self.config.lr * grads[k]).astype(self.dtype)

    def outputs(self) -> dict[str, Any]:
        return {}

    def forward(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out, hs = self._run(*self._inputs(batch))
        return {"y": out, "h": hs[-1]}

    def loss_and_grads(self, batch: Mapping[str, np.ndarray]
                       ) -> tuple[float, dict[str, np.ndarray]]:
        x, h0 = self._inputs(batch)
        out, hs = self._run(x, h0)
        err = out - np.asarray(batch["y"], dtype=self.dtype)
        grads, _ = self._backward(x, hs, 2 * err / err.size, np.zeros_like(h0))
        return float(np.mean(err ** 2)), grads

    def get_params(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.params.items()}

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        self.params = {k: np.asarray(params[k], dtype=self.dtype).copy() for k in NAMES}

    # -- optional hooks ----------------------------------------------------------------
    def truncation_grads(self, first: Mapping[str, np.ndarray], second: Mapping[str, np.ndarray],
                         cut: bool = True) -> dict[str, np.ndarray]:
        x1, h0 = self._inputs(first)
        _, hs1 = self._run(x1, h0)
        x2 = np.asarray(second["x"], dtype=self.dtype)
        out, hs2 = self._run(x2, hs1[-1])
        err = out - np.asarray(second["y"], dtype=self.dtype)
        _, d_carry = self._backward(x2, hs2, 2 * err / err.size, np.zeros_like(h0))
        if cut and self._cut(hs1[-1]) is None:
            return {"h0": np.zeros_like(h0)}
        _, d_h0 = self._backward(x1, hs1, None, d_carry)
        return {"h0": d_h0}

    def clip_grads(self, grads: Mapping[str, np.ndarray], theta: float
                   ) -> dict[str, np.ndarray]:
        norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads.values()))
        if norm <= theta:
            return dict(grads)
        return {k: g * (theta / norm) for k, g in grads.items()}


def toy_batch(sizes: Mapping[str, int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    b, t, i, h = sizes["batch"], sizes["steps"], sizes["inputs"], sizes["hidden"]
    return {"x": rng.uniform(-1, 1, (b, t, i)).astype(np.float32),
            "y": rng.uniform(-1, 1, (b, t, 1)).astype(np.float32),
            "h0": rng.uniform(-1, 1, (b, h)).astype(np.float32)}


def toy_config(sizes: Mapping[str, int]) -> ToyConfig:
    return replace(ToyConfig(), batch=sizes["batch"], steps=sizes["steps"],
                   inputs=sizes["inputs"], hidden=sizes["hidden"])


PROBE = Probe(
    tutorial="toy",
    sizes={"batch": (1, 3), "steps": (1, 4), "inputs": (1, 3), "hidden": (1, 4)},
    make_config=toy_config,
    make_batch=toy_batch,
    output_shapes=lambda s: {"y": (s["batch"], s["steps"], 1), "h": (s["batch"], s["hidden"])},
    cross_tolerance=Tolerance(rtol=1e-5, atol=1e-6, why="float32 numpy vs numpy"),
    device_tolerance=Tolerance(rtol=1e-5, atol=1e-6),
    layout="batch-first",
)


# ------------------------------------------------------------------------ broken ports
class WrongShape(ToyRnn):
    """Bug: returns the final state transposed, (H, B)."""

    port_id = "toy/wrong-shape"

    def forward(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = super().forward(batch)
        return {**out, "h": out["h"].T}


class WrongGradient(ToyRnn):
    """Bug: forgets the recurrent term's tanh derivative in W_hh's gradient."""

    port_id = "toy/wrong-gradient"

    def loss_and_grads(self, batch: Mapping[str, np.ndarray]
                       ) -> tuple[float, dict[str, np.ndarray]]:
        loss, grads = super().loss_and_grads(batch)
        x, h0 = self._inputs(batch)
        _, hs = self._run(x, h0)
        grads["W_hh"] = grads["W_hh"] * 1.0 + 0.01 * (hs[0].T @ hs[-1])
        return loss, grads


class SwappedBias(ToyRnn):
    """Bug: adds b_xh twice (b_hh never used), as if the two biases were swapped/merged wrong."""

    port_id = "toy/swapped-bias"

    def _bias(self) -> np.ndarray:
        return self.params["b_xh"] + self.params["b_xh"]


class MissingDetach(ToyRnn):
    """Bug: never cuts the carried state, so gradients leak into the previous batch."""

    port_id = "toy/missing-detach"

    def _cut(self, h: np.ndarray) -> np.ndarray | None:
        return h


class PerParameterClip(ToyRnn):
    """Bug: clips each gradient to theta on its own, which changes the global direction."""

    port_id = "toy/per-parameter-clip"

    def clip_grads(self, grads: Mapping[str, np.ndarray], theta: float
                   ) -> dict[str, np.ndarray]:
        out = {}
        for k, g in grads.items():
            norm = float(np.sqrt(np.sum(g ** 2)))
            out[k] = g * (theta / norm) if norm > theta else g
        return out


class Nondeterministic(ToyRnn):
    """Bug: an unseeded generator jitters every update (like an atomic-add reduction)."""

    port_id = "toy/nondeterministic"

    def _step(self, grads: Mapping[str, np.ndarray]) -> None:
        jitter = np.random.default_rng()  # unseeded on purpose
        super()._step({k: g * (1 + 1e-3 * jitter.standard_normal()) for k, g in grads.items()})


SPEC = TutorialSpec(name="toy", source="tests/harness/invariants/broken.py",
                    profiles={"ci": ToyConfig()}, metrics=("loss",),
                    tolerances={"default": Tolerance(rtol=1e-9)}, default_seed=0)

REGISTRY = Registry(
    [PortEntry("toy", "numpy", "", "tests.harness.invariants.broken:ToyRnn"),
     PortEntry("toy", "numpy", "nondeterministic", "tests.harness.invariants.broken:Nondeterministic")],
    {"toy": "tests.harness.invariants.broken:SPEC"})
