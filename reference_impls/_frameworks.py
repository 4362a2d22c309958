"""Device resolution shared by the ports; frameworks are imported inside the functions."""

from __future__ import annotations

from typing import Any

from harness.errors import DeviceUnavailableError
from harness.runner import parse_device as _parse


def _no_cuda(device: str, framework: str, why: str) -> DeviceUnavailableError:
    return DeviceUnavailableError(
        f"Device {device!r} was requested but {framework} sees no usable CUDA device.",
        context={"framework": framework, "reason": why},
        fix="run on --device cpu, or on a machine with a CUDA GPU and a CUDA build of "
        f"{framework}; CUDA test cases skip by themselves when there is none.",
    )


def torch_device(device: str) -> Any:
    """A ``torch.device`` for ``device``, or a clear error when CUDA is absent."""
    import torch

    kind, index = _parse(device)
    if kind == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise _no_cuda(device, "torch", "torch.cuda.is_available() is False")
    if index >= torch.cuda.device_count():
        raise _no_cuda(device, "torch", f"only {torch.cuda.device_count()} device(s)")
    return torch.device("cuda", index)


def mxnet_context(device: str) -> Any:
    """An ``mxnet.Context`` for ``device``, or a clear error when CUDA is absent."""
    import mxnet as mx

    kind, index = _parse(device)
    if kind == "cpu":
        return mx.cpu()
    count = mx.context.num_gpus()
    if index >= count:
        raise _no_cuda(device, "mxnet", f"mxnet.context.num_gpus() is {count}")
    return mx.gpu(index)


def filled_grad(tensor: Any) -> Any:
    """``tensor.grad`` after ``backward()``; ``None`` there is a bug in the training loop."""
    if tensor.grad is None:
        raise RuntimeError("backward() did not reach this parameter: its .grad is None")
    return tensor.grad
