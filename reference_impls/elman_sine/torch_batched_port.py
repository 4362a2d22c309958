"""elman_sine in PyTorch for many seeds at once: the port's loop on stacked weights.

Not a registered port: ``harness.sweep`` uses ``SEED_BATCHED`` to record a seed
envelope in one computation. Seed s starts from exactly the weights ``ElmanSineTorch``
draws for s, and every step does the port's arithmetic with a leading seed axis, so each
seed's trajectory equals its unbatched run
(tests/reference_impls/elman_sine/test_torch_batched_port.py).

The gradient is written out instead of taken by autograd, with the same kernels autograd
calls (pow/2 backward is ``pred - y`` exactly; ``aten.tanh_backward``; products with an
inner size of 1 are exact); that removes the per-step graph, which is what dominates the
time of this tiny model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from harness.backends import torch_backend as tb
from reference_impls.elman_sine import spec


def initial_weights(config: spec.Config, seeds: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """w1 (S, 1 + H, H) and w2 (S, H, 1), seed s drawn as the port draws it."""
    w1s, w2s = [], []
    for seed in seeds:
        torch.manual_seed(seed)  # CPU generator, article order: w1 then w2
        w1s.append(torch.empty(config.input_size, config.hidden_size).normal_(0.0, config.w1_std))
        w2s.append(torch.empty(config.hidden_size, config.output_size).normal_(0.0, config.w2_std))
    return torch.stack(w1s), torch.stack(w2s)


def train_seeds(config: spec.Config, seeds: Sequence[int], device: str = "cpu"
                ) -> list[dict[str, np.ndarray]]:
    """Train every seed at once; per seed, ``{"loss": float64 array, one value per epoch}``."""
    dev = tb.device(device)
    data = spec.make_data(config)
    x = torch.from_numpy(data["x"]).to(dev)  # (T, 1)
    y = torch.from_numpy(data["y"]).to(dev)  # (T, 1)
    w1, w2 = (w.to(dev) for w in initial_weights(config, seeds))
    s, hidden, lr = len(seeds), config.hidden_size, config.lr
    losses = torch.empty(config.epochs, s, dtype=torch.float32, device=dev)
    with torch.no_grad():
        for epoch in range(config.epochs):
            total = torch.zeros(s, dtype=torch.float32, device=dev)
            context = torch.zeros(s, 1, hidden, device=dev)  # (S, 1, H)
            for j in range(x.size(0)):
                xh = torch.cat((x[j].expand(s, 1, 1), context), 2)  # (S, 1, 1 + H)
                context = torch.tanh(torch.bmm(xh, w1))  # (S, 1, H)
                err = torch.bmm(context, w2) - y[j]  # (S, 1, 1): d loss / d pred
                total += err.pow(2).sum((1, 2)) / 2
                d_ctx = torch.bmm(err, w2.transpose(1, 2))  # (S, 1, H)
                # autograd's own kernel: it rounds g * (1 - h * h) differently from
                # the three separate tensor ops
                d_pre = torch.ops.aten.tanh_backward(d_ctx, context)
                w1 -= lr * torch.bmm(xh.transpose(1, 2), d_pre)  # (S, 1 + H, H)
                w2 -= lr * torch.bmm(context.transpose(1, 2), err)  # (S, H, 1)
            losses[epoch] = total
    table = losses.cpu().numpy().astype(np.float64)  # (epochs, S)
    return [{"loss": table[:, i].copy()} for i in range(s)]


#: port id -> seed-batched trainer (looked up by ``harness.sweep``).
SEED_BATCHED = {"elman_sine/torch": train_seeds}
