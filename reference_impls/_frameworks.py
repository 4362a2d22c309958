"""Device resolution shared by the ports not yet moved to adapters (see harness.backends)."""

from __future__ import annotations

from typing import Any


def torch_device(device: str) -> Any:
    from harness.backends import torch_backend

    return torch_backend.device(device)


def mxnet_context(device: str) -> Any:
    from harness.backends import mxnet_backend

    return mxnet_backend.context(device)


def filled_grad(tensor: Any) -> Any:
    """``tensor.grad`` after ``backward()``; ``None`` there is a bug in the training loop."""
    if tensor.grad is None:
        raise RuntimeError("backward() did not reach this parameter: its .grad is None")
    return tensor.grad
