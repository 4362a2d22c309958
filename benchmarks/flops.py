"""The torch char_rnn ports' share of this CPU's matrix-product rate (not a test).

FLOPs counted per token (2 per multiply-add, matrix products only; V = 28, H hidden):
forward X_t W_xh (V*H), H_{t-1} W_hh (H*H), H_t W_hq (H*V); backward the weight gradients
(V*H, H*H, H*V) and the gradients flowing back into H (H*H through W_hh, H*V through
W_hq; none into the one-hot input). Total 2 * (2*V*H + 3*H*H + 3*H*V) per token: 1.72
MFLOP at H 512 (scratch), 0.46 MFLOP at H 256 (concise). tanh, softmax, the loss, clipping
and the update are not counted (they are the "other" time).

The ceiling: each of those products timed alone with torch at the step's shapes (batch 32
rows per time step, one thread, the policy's count), median of ``--reps`` timings; the time
a token would take at those rates, over the time it takes in the port (median epoch of a
``ci`` run after the first, 8960 tokens per epoch), is the share.
Usage: ``RNN_HARNESS_DATA=... python benchmarks/flops.py [--reps 5]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import timeit
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.seeding import use_threads  # noqa: E402

V, B, TOKENS_PER_EPOCH = 28, 32, 8960


def products(h: int) -> list[tuple[str, tuple[int, int], tuple[int, int]]]:
    """(name, A shape, B shape) of every product one time step of B rows computes."""
    return [("X W_xh", (B, V), (V, h)), ("H W_hh", (B, h), (h, h)), ("H W_hq", (B, h), (h, V)),
            ("dW_xh = X^T dA", (V, B), (B, h)), ("dW_hh = H^T dA", (h, B), (B, h)),
            ("dH = dA W_hh^T", (B, h), (h, h)), ("dW_hq = H^T dO", (h, B), (B, V)),
            ("dH += dO W_hq^T", (B, V), (V, h))]


def rate(a_shape: tuple[int, int], b_shape: tuple[int, int], reps: int) -> float:
    """FLOP/s of one product at these shapes (median of ``reps`` timings of 2000)."""
    import torch

    a, b = torch.randn(*a_shape), torch.randn(*b_shape)
    n = 2000
    times = timeit.repeat(lambda: torch.mm(a, b), number=n, repeat=reps)
    return 2 * a_shape[0] * a_shape[1] * b_shape[1] / (statistics.median(times) / n)


def port_seconds_per_epoch(port_id: str, epochs: int) -> float:
    from harness.registry import default_registry
    from harness.runner import run_port

    registry = default_registry()
    config = replace(registry.spec("char_rnn").profile("ci"), epochs=epochs)
    traj = run_port(port_id, "ci", config=config, registry=registry)
    return statistics.median(list(traj.timing["wall_s"])[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    threads = use_threads()
    import torch

    for port_id, h in (("char_rnn/torch-scratch", 512), ("char_rnn/torch-concise", 256)):
        per_token = 0.0  # seconds per token at the measured product rates
        flops = 0
        rows = []
        for name, a, b in products(h):
            f = 2 * a[0] * a[1] * b[1] / B  # per token (B rows per time step)
            r = rate(a, b, args.reps)
            per_token += f / r
            flops += f
            rows.append({"product": name, "shapes": [a, b], "GFLOP/s": round(r / 1e9, 1)})
        epoch = port_seconds_per_epoch(port_id, args.epochs)
        achieved = flops * TOKENS_PER_EPOCH / epoch
        print(json.dumps({"port": port_id, "hidden": h, "threads": threads,
                          "torch": torch.__version__, "MFLOP per token": round(flops / 1e6, 3),
                          "s/epoch": round(epoch, 4),
                          "achieved GFLOP/s": round(achieved / 1e9, 1),
                          "ceiling GFLOP/s (products alone)": round(flops / per_token / 1e9, 1),
                          "share of ceiling": round(per_token * TOKENS_PER_EPOCH / epoch, 3),
                          "products": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
