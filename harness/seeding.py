"""One function seeds every RNG and switches on deterministic modes; another reports threads.

Frameworks are seeded only if already imported (a port imports its own), so a torch run
never pays for importing MXNet and vice versa.
"""

from __future__ import annotations

import os
import platform
import random
import sys
from importlib import metadata
from typing import Any

import numpy as np

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
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.manual_seed(seed)  # also seeds every CUDA device
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        # cuDNN (RNN layers, convolutions) defaults to TF32 on Ampere+ GPUs: ~1e-3 relative
        # error against the float32 the tutorials compute on the CPU. Keep full float32.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    if "mxnet" in sys.modules:
        sys.modules["mxnet"].random.seed(seed)


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
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["torch_threads"] = torch.get_num_threads()
        info["torch_interop_threads"] = torch.get_num_interop_threads()
    return info


def environment_info() -> dict[str, Any]:
    """Versions and platform of this process, for run metadata."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "versions": {d: _version(d) for d in ("numpy", "torch", "mxnet", "rnn-harness")},
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
