"""Measure how far CUDA results are from CPU results, per port (run where a GPU exists).

For every installed-framework port whose framework sees CUDA: (1) one step - forward
outputs, loss and every gradient from the same weights and batch (the probe's default
sizes, 3 seeds) - and (2) the ``ci`` training trajectory, each on CUDA against the CPU.
Prints one JSON line per port with the worst relative differences; writes nothing else.
Usage: ``RNN_HARNESS_DATA=... python benchmarks/measure_devices.py [PORT ...]``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.compare import relative_error  # noqa: E402
from harness.invariants import Example, build_port, draw_batch, probe_for, randomized  # noqa: E402,E501
from harness.registry import default_registry  # noqa: E402
from harness.runner import run_port  # noqa: E402


def one_step(port_id: str, seeds: tuple[int, ...] = (0, 1, 2)) -> dict[str, float]:
    """Worst absolute gap, and the tightest (atol, rtol) pair it needs at rtol 1e-4."""
    probe = probe_for(port_id.split("/")[0])
    worst_abs, worst_rel, needed_atol = 0.0, 0.0, 0.0
    for seed in seeds:
        example = Example(probe.default_sizes(), seed)
        batch = draw_batch(probe, example)
        cpu = build_port(port_id, probe, example, device="cpu")
        gpu = build_port(port_id, probe, example, device="cuda")
        params = randomized(cpu.get_params(), np.random.default_rng([seed, 11]))
        cpu.set_params(params)
        gpu.set_params(params)
        pairs = [(gpu.forward(batch)[k], v) for k, v in cpu.forward(batch).items()]
        (loss_c, grads_c), (loss_g, grads_g) = cpu.loss_and_grads(batch), gpu.loss_and_grads(batch)
        pairs += [(np.float64(loss_g), np.float64(loss_c))]
        pairs += [(grads_g[k], v) for k, v in grads_c.items()]
        for got, want in pairs:
            got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
            diff = np.abs(got - want)
            worst_abs = max(worst_abs, float(diff.max()))
            worst_rel = max(worst_rel, float(relative_error(got, want).max()))
            needed_atol = max(needed_atol, float((diff - 1e-4 * np.abs(want)).max()))
    return {"max_abs": worst_abs, "max_rel": worst_rel, "atol_needed_at_rtol_1e-4": needed_atol}


def trajectory(port_id: str) -> dict[str, float]:
    cpu, gpu = run_port(port_id, "ci", device="cpu"), run_port(port_id, "ci", device="cuda")
    return {m: float(np.max(relative_error(gpu.metrics[m], v))) for m, v in cpu.metrics.items()}


def main(ports: list[str]) -> int:
    registry = default_registry()
    for port_id in ports or [p for p in registry.ids() if registry.available(p)]:
        row: dict[str, object] = {"port": port_id}
        try:
            row["one_step"] = one_step(port_id)
            row["ci_trajectory_max_rel"] = trajectory(port_id)
        except Exception as exc:  # report and go on: one port's failure is a finding
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
