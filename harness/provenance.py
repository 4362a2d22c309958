"""Numerics provenance: what decides the bits of a run (the CPU and its flags, the kernels
each loaded framework picked, BLAS and its mode, numpy's SIMD, threads, versions, the
device), and the differences between a golden's record and a run's (``provenance_diff``).

Nothing here imports a framework: a framework's block is read only where this process has
already imported it (its port did), as ``harness.backends.loaded_backends`` does.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import os
import sys
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

#: Environment variables that select kernels or their numerics (each measured or documented
#: to change bits): torch's dispatch ISA, MKL's code path, oneDNN's ISA limit, OpenBLAS's
#: core, numpy's SIMD dispatch, XLA's flags (``--xla_cpu_max_isa``) and JAX's precision.
KERNEL_ENV = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "MKL_DEBUG_CPU_TYPE",
              "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "OPENBLAS_CORETYPE",
              "NPY_DISABLE_CPU_FEATURES", "XLA_FLAGS", "JAX_DEFAULT_MATMUL_PRECISION",
              "JAX_ENABLE_X64")
#: The kernel variants this CPU can be forced into (docs/machines.md): name -> (environment,
#: frameworks whose kernels it changes, what a run's provenance shows when it took effect:
#: (dotted key, value) or None). ``numpy-no-avx512``'s environment depends on numpy's
#: dispatch targets here (``NPY_DISABLE_CPU_FEATURES``; ``harness.calibrate.variant_env``).
KERNEL_VARIANTS: dict[str, tuple[dict[str, str], tuple[str, ...], tuple[str, str] | None]] = {
    "aten-avx2": ({"ATEN_CPU_CAPABILITY": "avx2"}, ("torch",), ("torch.cpu_capability", "AVX2")),
    "aten-default": ({"ATEN_CPU_CAPABILITY": "default"}, ("torch",),
                     ("torch.cpu_capability", "DEFAULT")),
    "mkl-compatible": ({"MKL_CBWR": "COMPATIBLE"}, ("torch",), None),
    "onednn-avx2": ({"ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2"},
                    ("torch", "mxnet"), None),
    "openblas-haswell": ({"OPENBLAS_CORETYPE": "Haswell"}, ("torch", "mxnet", "jax"),
                         ("numpy.blas.core", "Haswell")),
    # MXNet's own OpenBLAS 0.3.13 has no SkylakeX kernels (it runs Haswell's then): numpy's
    "openblas-skylakex": ({"OPENBLAS_CORETYPE": "SkylakeX"}, ("mxnet",),
                          ("numpy.blas.core", "SkylakeX")),
    "numpy-no-avx512": ({}, ("torch", "mxnet", "jax"), None),
    "xla-avx2": ({"XLA_FLAGS": "--xla_cpu_max_isa=AVX2"}, ("jax",), None),
    "xla-sse4_2": ({"XLA_FLAGS": "--xla_cpu_max_isa=SSE4_2"}, ("jax",), None),
}
#: The CPU flags (``/proc/cpuinfo``) that pick the vector kernels of these libraries.
CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
             "avx512_vnni", "avx512_bf16", "amx_tile")
#: The thread settings that change results (a reduction split over N threads adds in
#: another order); the full record stays in the meta's ``threads``.
THREAD_KEYS = ("set", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "MXNET_ENGINE_TYPE", "torch_threads", "mxnet_omp_threads", "xla_single_threaded")
#: The most difference lines ``provenance_diff`` returns (the rest are counted).
MAX_LINES = 12


def provenance(threads: Mapping[str, Any] | None = None,
               versions: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What decides the bits of a run in this process now. ``threads`` and ``versions`` are
    the run's thread record and version table (``harness.seeding`` passes its own)."""
    out: dict[str, Any] = {"cpu": cpu_info(), "device": device_info(), "env": kernel_env(),
                           "numpy": numpy_info()}
    for name, reader in (("torch", _torch_info), ("mxnet", _mxnet_info), ("jax", _jax_info)):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = reader(module)
    if threads is not None:
        out["threads"] = {k: threads[k] for k in THREAD_KEYS if k in threads}
    if versions is not None:
        out["versions"] = {k: v for k, v in versions.items() if k != "rnn-harness"}
    return out


# ---------------------------------------------------------------- readers


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict[str, Any]:
    """The CPU model, vendor and the vector flags the kernels dispatch on."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
                if not line.strip() and fields:
                    break  # the first processor's block is enough
    except OSError:
        import platform
        return {"model": platform.processor() or None, "vendor": None, "flags": None}
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name"), "vendor": fields.get("vendor_id"),
            "flags": {f: f in flags for f in CPU_FLAGS}}


def kernel_env() -> dict[str, str | None]:
    """Each kernel-selecting environment variable, ``None`` where unset."""
    return {key: os.environ.get(key) for key in KERNEL_ENV}


def device_info() -> dict[str, Any]:
    """``cpu``, or the GPU a loaded framework has started (torch's CUDA context, JAX's GPU
    backend): model, compute capability, cuDNN and the TF32 switches."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        major, minor = torch.cuda.get_device_capability()
        return {"kind": f"cuda-sm{major}{minor}", "name": torch.cuda.get_device_name(),
                "capability": f"{major}.{minor}", "cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version(),
                "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
                "tf32_cudnn": torch.backends.cudnn.allow_tf32,
                "cudnn_deterministic": torch.backends.cudnn.deterministic,
                "cudnn_benchmark": torch.backends.cudnn.benchmark}
    jax = sys.modules.get("jax")
    if jax is not None and _jax_started() and jax.default_backend() == "gpu":
        dev = jax.devices()[0]
        cap = getattr(dev, "compute_capability", None)
        kind = f"cuda-sm{str(cap).replace('.', '')}" if cap else "cuda"
        return {"kind": kind, "name": dev.device_kind, "capability": cap}
    return {"kind": "cpu"}


def numpy_info() -> dict[str, Any]:
    """numpy's version, the SIMD targets it runs on this CPU (baseline + dispatched) and
    the OpenBLAS core it picked."""
    import numpy as np

    try:  # numpy 2.x; numpy.core would warn there
        umath = importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:  # numpy 1.x
        umath = importlib.import_module("numpy.core._multiarray_umath")
    features = getattr(umath, "__cpu_features__", {})
    dispatch = [f for f in getattr(umath, "__cpu_dispatch__", []) if features.get(f)]
    return {"version": np.__version__,
            "simd_baseline": list(getattr(umath, "__cpu_baseline__", [])),
            "simd_dispatch": dispatch, "blas": openblas_info().get("numpy")}


def openblas_info() -> dict[str, dict[str, str]]:
    """Per package (numpy, mxnet, scipy...) whose OpenBLAS this process has loaded: its
    build line and the core it picked (``OPENBLAS_CORETYPE`` overrides it)."""
    out: dict[str, dict[str, str]] = {}
    for path in _loaded_libraries("openblas"):
        owner = path.parent.name.removesuffix(".libs")
        info = dict(_openblas_query(str(path)))  # cached: a copy for the caller
        if info:
            out.setdefault(owner, info)
    return out


def _loaded_libraries(word: str) -> Iterator[Path]:
    try:
        with open("/proc/self/maps", encoding="utf-8") as fh:
            names = {line.split()[-1] for line in fh if word in line.lower()}
    except OSError:
        return
    for name in sorted(names):
        path = Path(name)
        if ".so" in path.name and "cpython" not in path.name and path.exists():
            yield path


@functools.cache
def _openblas_query(path: str) -> dict[str, str]:
    """``openblas_get_config``/``_corename`` of a loaded library, under any of the symbol
    names its builds use (numpy 1.x ``..64_``, numpy 2.x ``scipy_..64_``). Asked once per
    library and process: a loaded library's build and core do not change."""
    try:
        lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    except OSError:
        return {}
    out = {}
    for key, stem in (("config", "openblas_get_config"), ("core", "openblas_get_corename")):
        for name in (stem, f"{stem}64_", f"scipy_{stem}64_", f"scipy_{stem}"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                out[key] = fn().decode(errors="replace").strip()
                break
    return out


def _torch_info(torch: Any) -> dict[str, Any]:
    shown = _torch_build()
    return {"version": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "blas": shown.get("blas"), "mkl": shown.get("mkl"), "onednn": shown.get("onednn"),
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "deterministic": torch.are_deterministic_algorithms_enabled(),
            "mkldnn_enabled": bool(torch.backends.mkldnn.enabled)}


@functools.lru_cache(maxsize=1)
def _torch_build() -> dict[str, str | None]:
    """BLAS vendor, MKL and oneDNN versions from ``torch.__config__.show()``."""
    text = sys.modules["torch"].__config__.show()
    out: dict[str, str | None] = {"blas": None, "mkl": None, "onednn": None}
    for line in text.splitlines():
        line = line.strip(" -")
        if "Math Kernel Library Version" in line:
            out["mkl"] = line.split("Version", 1)[1].split("for", 1)[0].strip()
        elif line.startswith(("Intel(R) MKL-DNN", "oneDNN")):
            out["onednn"] = line.split("(Git", 1)[0].split()[-1]
        if "BLAS_INFO=" in line:
            out["blas"] = line.split("BLAS_INFO=", 1)[1].split(",", 1)[0]
    return out


def _mxnet_info(mx: Any) -> dict[str, Any]:
    features = [name for name, f in mx.runtime.Features().items() if f.enabled]
    wanted = ("BLAS_", "MKLDNN", "OPENMP", "CUDA", "CUDNN", "TENSORRT", "INT64", "CPU_")
    return {"version": mx.__version__, "features": [f for f in features if f.startswith(wanted)],
            "blas": openblas_info().get("mxnet"),
            "engine": os.environ.get("MXNET_ENGINE_TYPE")}


def _jax_info(jax: Any) -> dict[str, Any]:
    try:
        jaxlib = metadata.version("jaxlib")
    except metadata.PackageNotFoundError:
        jaxlib = None
    return {"version": jax.__version__, "jaxlib": jaxlib,
            "matmul_precision": jax.config.jax_default_matmul_precision,
            "x64": bool(jax.config.jax_enable_x64),
            "backend": jax.default_backend() if _jax_started() else None}


def _jax_started() -> bool:
    """Whether XLA's clients have started: asking for the backend before would start them,
    and they read ``XLA_FLAGS`` (the thread policy's) once, when they start."""
    bridge = sys.modules.get("jax._src.xla_bridge")
    return bool(bridge is not None and bridge.backends_are_initialized())


# ---------------------------------------------------------------- differences

#: How a flattened key reads in a difference line (a key not listed reads as its dots).
LABELS = {
    "device.kind": "device", "cpu.model": "CPU", "cpu.vendor": "CPU vendor",
    "torch.cpu_capability": "torch cpu capability", "torch.float32_matmul_precision":
    "torch float32 matmul precision", "numpy.simd_dispatch": "numpy SIMD (dispatched)",
    "numpy.simd_baseline": "numpy SIMD (baseline)", "numpy.blas.core": "numpy OpenBLAS core",
    "mxnet.blas.core": "MXNet OpenBLAS core", "jax.matmul_precision": "JAX matmul precision",
    "threads.set": "threads",
}
#: Keys that are bookkeeping, or said by another line (a block's ``version`` by
#: ``versions``, OpenBLAS's build line by its core).
_SKIP = ("backfilled", "version", "config")
#: Top-level meta fields every golden records, compared where one side has no provenance.
_LEGACY = (("device", "device"), ("processor", "CPU"), ("threads.set", "threads"))


def provenance_diff(golden_meta: Mapping[str, Any], run_meta: Mapping[str, Any]) -> list[str]:
    """One line per factor that decides the bits and differs between the golden's record
    and this run's, e.g. ``torch cpu capability: AVX512 (golden) vs AVX2 (this run)``;
    empty when they agree. Metas from before provenance was recorded are compared on the
    fields they do record (versions, processor, threads, device), with a line saying so."""
    golden, run = golden_meta.get("provenance"), run_meta.get("provenance")
    if not isinstance(golden, Mapping) or not isinstance(run, Mapping):
        return _legacy_diff(golden_meta, run_meta, golden_missing=not isinstance(golden, Mapping))
    a, b = dict(_flatten(golden)), dict(_flatten(run))
    only_run = sorted(set(run) - set(golden))
    lines = [f"{name}: not recorded in the golden (this run: {_block(run[name])})"
             for name in only_run]
    for key in sorted(set(a) | set(b), key=_order):
        head, leaf = key.split(".")[0], key.split(".")[-1]
        # a block or key on one side only is not recorded by the other (a framework not
        # loaded here, a field kept since): the versions lines say what changed
        if key not in a or key not in b or a[key] == b[key] or (
                leaf in _SKIP and head != "versions") or _incomparable(key, a, b):
            continue
        lines.append(_line(key, a[key], b[key]))
    return _capped(lines)


def _incomparable(key: str, golden: Mapping[str, Any], run: Mapping[str, Any]) -> bool:
    """numpy's SIMD target names differ between its versions (2.x groups them as X86_V3,
    X86_V4): only the version line is said then."""
    return key.startswith("numpy.simd") and golden.get("numpy.version") != run.get(
        "numpy.version")


def provenance_note(golden_meta: Mapping[str, Any], run_meta: Mapping[str, Any],
                    port_id: str) -> str | None:
    """For a failed check's message: the factors that decide the bits and differ from the
    golden's recording, one per line, with the command that tests each; None when the run
    records the same machine as the golden."""
    lines = provenance_diff(golden_meta, run_meta)
    if not lines:
        return None
    return ("this machine differs from the golden's where the bits are decided:\n"
            + "\n".join(f"    {line}" for line in lines)
            + f"\n  `rnn-harness explain {port_id}` replays the run with each switched back "
            "to the golden's and names the one that explains the failure, or the code")


def _legacy_diff(golden_meta: Mapping[str, Any], run_meta: Mapping[str, Any], *,
                 golden_missing: bool) -> list[str]:
    side = "the golden" if golden_missing else "this run"
    lines = [f"{side} records no provenance (CPU flags, kernels, BLAS): compared on "
             "versions, processor, threads and device only"]
    for key, label in _LEGACY:
        a, b = _get(golden_meta, key), _get(run_meta, key)
        if a != b:
            lines.append(f"{label}: {_fmt(a)} (golden) vs {_fmt(b)} (this run)")
    versions_a, versions_b = golden_meta.get("versions") or {}, run_meta.get("versions") or {}
    for name in sorted(set(versions_a) | set(versions_b)):
        if name != "rnn-harness" and versions_a.get(name) != versions_b.get(name):
            lines.append(f"{name} version: {_fmt(versions_a.get(name))} (golden) vs "
                         f"{_fmt(versions_b.get(name))} (this run)")
    return _capped(lines)


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), value


def _get(meta: Mapping[str, Any], dotted: str) -> Any:
    value: Any = meta
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


_ORDER = ("device", "cpu", "env", "torch", "mxnet", "jax", "numpy", "threads", "versions")


def _order(key: str) -> tuple[int, str]:
    head = key.split(".")[0]
    return (_ORDER.index(head) if head in _ORDER else len(_ORDER), key)


def _label(key: str) -> str:
    head, leaf = key.split(".")[0], key.split(".")[-1]
    if key in LABELS:
        return LABELS[key]
    if key.startswith("cpu.flags."):
        return f"CPU flag {leaf}"
    if head == "env":
        return leaf
    if head == "versions":
        return f"{leaf} version"
    return key.replace(".", " ").replace("_", " ")


def _line(key: str, golden: Any, run: Any) -> str:
    label = _label(key)
    if isinstance(golden, list) and isinstance(run, list):
        lost = [x for x in golden if x not in run]
        gained = [x for x in run if x not in golden]
        parts = ([f"this run lacks {', '.join(map(str, lost))}"] if lost else []) + (
            [f"this run adds {', '.join(map(str, gained))}"] if gained else [])
        return f"{label}: {'; '.join(parts) or 'same set, another order'}"
    return f"{label}: {_fmt(golden)} (golden) vs {_fmt(run)} (this run)"


def _fmt(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _block(block: Any) -> str:
    if isinstance(block, Mapping):
        shown = [f"{k} {_fmt(v)}" for k, v in block.items()
                 if not isinstance(v, (Mapping, list)) and k != "backfilled"]
        return ", ".join(shown[:3]) or "recorded"
    return _fmt(block)


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LINES:
        return lines
    return [*lines[:MAX_LINES - 1], f"... and {len(lines) - MAX_LINES + 1} more differences "
            "(compare the metas' provenance blocks)"]
