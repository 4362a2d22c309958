"""Seeding, deterministic modes and the thread policy: what a run sets before it trains.

Frameworks are seeded (by their backends) only if already imported (a port imports its
own), so a torch run never pays for importing MXNet and vice versa.

Thread policy: every run sets its frameworks' intra-op threads deliberately, to
``DEFAULT_THREADS`` unless ``--threads`` (``override_threads``) or the golden being
reproduced (``use_threads(recorded_threads(meta))``) says otherwise. Thread counts change
results (a reduction split over two threads adds in another order), so the count is part
of what a run records (``meta["threads"]["set"]``) and a check reproduces. Parallelism
across runs comes from processes (``harness.sweep``), one run per process.
"""

from __future__ import annotations

import functools
import os
import platform
import random
from collections.abc import Mapping
from importlib import metadata
from typing import Any

import numpy as np

from harness.backends import FRAMEWORKS, loaded_backends
from harness.errors import UsageError
from harness.provenance import provenance

#: Environment settings that must be in place before a framework is imported.
#: cuBLAS needs a fixed workspace for deterministic GEMMs; MXNet reads its flags at import;
#: torch's compiler reads its deterministic mode when first imported (the one thing
#: ``torch.use_deterministic_algorithms`` sets besides the flag the torch backend sets).
DETERMINISM_ENV = {
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    "TORCHINDUCTOR_DETERMINISTIC": "1",
    "MXNET_ENFORCE_DETERMINISM": "1",
    "MXNET_CUDNN_AUTOTUNE_DEFAULT": "0",
}


#: Intra-op threads per run. One is the fastest measured for these models on an idle
#: machine and by far on a busy one (benchmarks/readme_table.py; docs/benchmarks.md), and
#: every golden recorded before the policy ran at one thread or is thread-invariant.
DEFAULT_THREADS = 1

#: MXNet's engine (``thread_env``): ops run synchronously in the calling thread.
MXNET_ENGINE = "NaiveEngine"

#: The override (``--threads``): the count every run uses, whatever a golden records. An
#: environment variable, so worker processes started after it inherit it.
THREADS_ENV = "RNN_HARNESS_THREADS"
#: The count the golden being reproduced records (``use_threads``); None: the default.
_recorded: int | None = None


def _checked(count: object, where: str = "--threads") -> int:
    if isinstance(count, str) and count.strip().isdigit():
        count = int(count)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UsageError(f"A thread count must be a whole number of at least 1, not {count!r}.",
                         context={"argument": where, "value": count},
                         fix=f"pass --threads 1 or more (default {DEFAULT_THREADS}), or unset "
                         f"{THREADS_ENV}.")
    return count


def override_threads(count: int | None) -> None:
    """Make every later run of this process and of the worker processes it starts use
    ``count`` threads (``--threads``), even where a golden records another count; ``None``
    lifts the override."""
    if count is None:
        os.environ.pop(THREADS_ENV, None)
    else:
        os.environ[THREADS_ENV] = str(_checked(count))
    use_threads()


def threads_override() -> int | None:
    """The ``--threads`` override in force (``RNN_HARNESS_THREADS``), or None."""
    value = os.environ.get(THREADS_ENV)
    return None if value is None else _checked(value, THREADS_ENV)


def use_threads(recorded: int | None = None) -> int:
    """Set the thread count of this process's runs from now on and return it: the
    override, else ``recorded`` (the count a golden was recorded with), else
    ``DEFAULT_THREADS``. Applied at once to every framework already imported, and through
    the environment to those imported later."""
    global _recorded
    _recorded = None if recorded is None else _checked(recorded)
    prepare_determinism()
    _apply_threads()
    return current_threads()


def current_threads() -> int:
    """The thread count runs of this process use now: the override, else the count
    ``use_threads`` was last given, else ``DEFAULT_THREADS``."""
    return threads_override() or _recorded or DEFAULT_THREADS


def thread_env(count: int) -> dict[str, str]:
    """The environment that gives a framework imported after it ``count`` intra-op threads.

    MXNet reads its OpenMP count and engine settings once, at import. Its engine is the
    synchronous ``NaiveEngine``: each op runs in the Python thread that pushes it, with
    ``count`` OpenMP threads, so a run is one thread, as the policy wants. MXNet's default
    engine hands every op to a worker thread (6 OS threads per run at one OpenMP thread).
    Measured side by side (docs/benchmarks.md): NaiveEngine 17-25 % faster for the
    small-op ports idle and busy, the char_rnn ports 10-24 % slower idle and even busy;
    results bit-identical (every MXNet golden re-recorded). Two workers with two threads
    each oversubscribe two cores: measured >100x slower.
    """
    return {"OMP_NUM_THREADS": str(count), "MKL_NUM_THREADS": str(count),
            "OPENBLAS_NUM_THREADS": str(count), "MXNET_CPU_WORKER_NTHREADS": "1",
            "MXNET_ENGINE_TYPE": MXNET_ENGINE}


def recorded_threads(meta: Mapping[str, Any]) -> int | None:
    """The thread count a run's metadata says was set, or None where it records none
    (goldens from before the thread policy)."""
    threads = meta.get("threads")
    count = threads.get("set") if isinstance(threads, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def prepare_determinism() -> None:
    """Set the determinism and thread environment variables (call before importing a
    framework; the thread ones are overwritten: the policy, not the caller's shell, decides)."""
    for key, value in DETERMINISM_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.update(thread_env(current_threads()))


def _apply_threads() -> None:
    """Each imported framework's own setter (one that fixes its threads at start-up, as
    MXNet does, changes what it still can; its thread_info() says what is in force)."""
    count = current_threads()
    for backend in loaded_backends():
        backend.set_threads(count)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy and every imported framework; force determinism and
    the policy's thread count."""
    prepare_determinism()
    _apply_threads()
    random.seed(seed)
    np.random.seed(seed)
    for backend in loaded_backends():
        backend.seed(seed)


def _framework_dists() -> list[str]:
    return [fw.module for fw in FRAMEWORKS.values() if fw.backend is not None]


@functools.cache
def _version(dist: str) -> str | None:
    """``dist``'s installed version, read once per process: ``importlib.metadata`` parses
    the distribution's METADATA file each time (about 1 ms a name, measured: 6 ms of
    sin_cos/torch's 0.1 s run), and a loaded package's version cannot change."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def thread_info() -> dict[str, Any]:
    """Thread counts that can change float results: env settings and the frameworks' own."""
    info: dict[str, Any] = {"set": current_threads(), "cpu_count": os.cpu_count()}
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MXNET_CPU_WORKER_NTHREADS", "MXNET_ENGINE_TYPE", "OPENBLAS_CORETYPE"):
        info[key] = os.environ.get(key)
    for backend in loaded_backends():
        info.update(backend.thread_info())
    return info


def environment_info() -> dict[str, Any]:
    """Versions and platform of this process, for run metadata, with its numerics
    provenance (``harness.provenance``: CPU flags, kernels, BLAS, SIMD, device)."""
    versions = {d: _version(d) for d in ("numpy", *_framework_dists(), "rnn-harness")}
    threads = thread_info()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "versions": versions,
        "threads": threads,
        "provenance": provenance(threads, versions),
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
