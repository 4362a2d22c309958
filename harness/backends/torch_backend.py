"""The PyTorch backend: devices, tensors <-> numpy, parameter assignment, float64."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from harness.backends import no_cuda, parse_device

FRAMEWORK = "torch"


def device(name: str) -> torch.device:
    """A ``torch.device`` for ``name``, or a clear error when CUDA is absent."""
    kind, index = parse_device(name)
    if kind == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise no_cuda(name, "torch", "torch.cuda.is_available() is False")
    if index >= torch.cuda.device_count():
        raise no_cuda(name, "torch", f"only {torch.cuda.device_count()} device(s)")
    return torch.device("cuda", index)


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A host copy of ``tensor``'s values (graph and device left behind)."""
    return tensor.detach().cpu().numpy().copy()


def tensor(array: Any, dev: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``array`` (numpy or nested lists) as a tensor on ``dev``."""
    return torch.as_tensor(np.asarray(array), device=dev, dtype=dtype)


def assign(param: torch.Tensor, value: np.ndarray) -> None:
    """Copy ``value`` into ``param`` in place (its dtype and device kept)."""
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def filled_grad(param: torch.Tensor) -> torch.Tensor:
    """``param.grad`` after ``backward()``; ``None`` there is a bug in the training loop."""
    if param.grad is None:
        raise RuntimeError("backward() did not reach this parameter: its .grad is None")
    return param.grad


def np_dtype(dtype: torch.dtype) -> type[np.floating[Any]]:
    return np.float64 if dtype == torch.float64 else np.float32


def seed(value: int) -> None:
    """Seed torch (every CUDA device too) and force its deterministic modes."""
    torch.manual_seed(value)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    # cuDNN (RNN layers, convolutions) defaults to TF32 on Ampere+ GPUs: ~1e-3 relative
    # error against the float32 the tutorials compute on the CPU. Keep full float32.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def thread_info() -> dict[str, Any]:
    return {"torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads()}


def cuda_available() -> bool:
    return bool(torch.cuda.is_available())


def global_norm(tensors: list[torch.Tensor]) -> float:
    """sqrt of the sum of squares of every element, in float64 (an observable: read-only)."""
    with torch.no_grad():
        total = sum((t.detach().double().pow(2).sum() for t in tensors),
                    torch.zeros((), dtype=torch.float64, device=tensors[0].device))
    return math.sqrt(float(total))


def snapshot(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Detached copies, on the tensors' own device."""
    return [t.detach().clone() for t in tensors]


def distance(before: list[torch.Tensor], after: list[torch.Tensor]) -> float:
    """``||after - before||`` over all tensors, in float64."""
    with torch.no_grad():
        diffs = [a.detach().double() - b.double() for a, b in zip(after, before, strict=True)]
    return global_norm(diffs)

