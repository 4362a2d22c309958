"""The numpy backend, for framework-free ports (users' reference models, test fakes).

Parameters are numpy arrays held by the adapter and changed in place, so ``assign``
writes into them; norms are float64.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.backends import parse_device
from harness.errors import DeviceUnavailableError

FRAMEWORK = "numpy"


def device(name: str) -> str:
    """numpy computes on the CPU only."""
    kind, _ = parse_device(name)
    if kind != "cpu":
        raise DeviceUnavailableError(f"Device {name!r} was requested but numpy runs on the CPU.",
                                     context={"framework": "numpy"}, fix="pass --device cpu.")
    return "cpu"


def to_numpy(array: Any) -> np.ndarray:
    return np.array(array, copy=True)


def tensor(array: Any, dev: str = "cpu", dtype: Any = None) -> np.ndarray:
    return np.array(array, dtype=dtype)


def assign(target: np.ndarray, value: np.ndarray) -> None:
    target[...] = np.asarray(value, dtype=target.dtype)


def seed(value: int) -> None:
    np.random.seed(value)


def set_threads(count: int) -> None:
    """Nothing to set: numpy's BLAS pool is sized once, when numpy is imported, by the
    environment ``harness.seeding.thread_env`` gives worker processes (and its small
    matrix products run on one thread at any setting)."""


def thread_info() -> dict[str, Any]:
    return {}


def cuda_available() -> bool:
    return False


def global_norm(arrays: list[Any]) -> float:
    return math.sqrt(math.fsum(float(np.sum(np.asarray(a, np.float64) ** 2)) for a in arrays))


def snapshot(arrays: list[Any]) -> list[np.ndarray]:
    return [np.array(a, copy=True) for a in arrays]


def distance(before: list[Any], after: list[Any]) -> float:
    return global_norm([np.asarray(a, np.float64) - np.asarray(b, np.float64)
                        for a, b in zip(after, before, strict=True)])
