"""One function seeds every RNG and switches on deterministic modes; another reports threads.

Frameworks are seeded (by their backends) only if already imported (a port imports its
own), so a torch run never pays for importing MXNet and vice versa.
"""

from __future__ import annotations

import os
import platform
import random
from importlib import metadata
from typing import Any

import numpy as np

from harness.backends import FRAMEWORKS, loaded_backends

#: Environment settings that must be in place before a framework is imported.
#: cuBLAS needs a fixed workspace for deterministic GEMMs; MXNet reads its flags at import.
DETERMINISM_ENV = {
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    "MXNET_ENFORCE_DETERMINISM": "1",
    "MXNET_CUDNN_AUTOTUNE_DEFAULT": "0",
}


def prepare_determinism() -> None:
    """Set the determinism environment variables (call before importing a framework)."""
    for key, value in DETERMINISM_ENV.items():
        os.environ.setdefault(key, value)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy and every imported framework; force determinism."""
    prepare_determinism()
    random.seed(seed)
    np.random.seed(seed)
    for backend in loaded_backends():
        backend.seed(seed)


def _framework_dists() -> list[str]:
    return [fw.module for fw in FRAMEWORKS.values() if fw.backend is not None]


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def thread_info() -> dict[str, Any]:
    """Thread counts that can change float results: env settings and the frameworks' own."""
    info: dict[str, Any] = {"cpu_count": os.cpu_count()}
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MXNET_CPU_WORKER_NTHREADS", "OPENBLAS_CORETYPE"):
        info[key] = os.environ.get(key)
    for backend in loaded_backends():
        info.update(backend.thread_info())
    return info


def environment_info() -> dict[str, Any]:
    """Versions and platform of this process, for run metadata."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "versions": {d: _version(d) for d in ("numpy", *_framework_dists(), "rnn-harness")},
        "threads": thread_info(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
