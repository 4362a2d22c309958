"""The JAX backend: devices, arrays <-> numpy, parameter slots, the RNN layer, float64.

XLA reads ``XLA_FLAGS`` when its CPU client starts, at the first array op, not at
``import jax`` (measured: a bad flag set after ``import jax`` still aborts the first op).
Importing this module sets single-threaded flags before that, so every JAX run is
independent of the machine's core count; ports import it before they compute anything
(no array op at import time). ``set_threads`` (the harness's thread policy, called
before a port's first array op) changes the count until XLA starts. A process that ran
JAX ops before importing this module keeps its own settings, and ``thread_info()``
(recorded in every run's metadata) says so.

JAX arrays are immutable: an adapter holds its parameters in a plain dict keyed by the
storage names of its spec's parameter table; ``slots(params)`` gives ``ParamTable.load``
one mutable ``Slot`` per entry, whose ``assign`` rebinds that dict entry.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from harness.backends import no_cuda, parse_device

FRAMEWORK = "jax"

#: Eigen's thread pool off and one intra-op thread: XLA's CPU kernels then split no
#: reduction across threads, so results do not depend on the number of cores.
SINGLE_THREAD_FLAGS = ("--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1")


def _started() -> bool:
    from jax._src import xla_bridge

    return bool(xla_bridge.backends_are_initialized())


def _name(flag: str) -> str:
    return flag.lstrip("-").partition("=")[0]


def _single_threaded() -> bool:
    """Add XLA's single-thread flags unless XLA already started; whether they are in force.

    A flag the user set (by name, e.g. ``--xla_cpu_multi_thread_eigen=true``) is kept.
    """
    flags = os.environ.get("XLA_FLAGS", "").split()
    named = {_name(f) for f in flags}
    missing = [f for f in SINGLE_THREAD_FLAGS if _name(f) not in named]
    if missing and not _started():
        os.environ["XLA_FLAGS"] = " ".join([*flags, *missing])
        os.environ[OWN_FLAGS_ENV] = " ".join(missing)
        flags += missing
    return all(f in flags for f in SINGLE_THREAD_FLAGS)


#: The thread flags this module wrote into ``XLA_FLAGS``, so that a child process (which
#: inherits both variables) does not take them for the user's own.
OWN_FLAGS_ENV = "RNN_HARNESS_XLA_THREAD_FLAGS"
#: XLA flag names the user set before this module was imported: kept as they are.
_USER_NAMED = frozenset(_name(f) for f in os.environ.get("XLA_FLAGS", "").split()
                        if f not in os.environ.get(OWN_FLAGS_ENV, "").split())
#: Whether this process's XLA runs single-threaded (set here, before any array op).
SINGLE_THREADED = _single_threaded()

#: float32 matrix products in full float32 on every device. XLA's default lets a GPU use
#: TF32 (10-bit mantissa) for them: measured on a lent H200 (jax 0.11.2), char_rnn/jax-
#: scratch's one step from the same weights then differed from the CPU by 0.39 absolute
#: (torch with TF32 off: 1.6e-4). The torch backend turns TF32 off too. XLA's CPU client
#: computes float32 products in float32 either way: the CPU goldens keep their bits.
MATMUL_PRECISION = "highest"
jax.config.update("jax_default_matmul_precision", MATMUL_PRECISION)


def _thread_flags(count: int) -> tuple[str, ...]:
    """XLA's flags for ``count`` intra-op threads (Eigen's pool on only above one)."""
    return (f"--xla_cpu_multi_thread_eigen={'true' if count > 1 else 'false'}",
            f"intra_op_parallelism_threads={count}")


def set_threads(count: int) -> None:
    """``count`` intra-op threads, where XLA's CPU client has not started yet (it reads
    ``XLA_FLAGS`` once, at its first array op); a flag the user set by name is kept. Once
    XLA has started, the count in force stays, and ``thread_info`` reports it."""
    global SINGLE_THREADED
    if _started():
        return
    ours = {_name(f): f for f in _thread_flags(count) if _name(f) not in _USER_NAMED}
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if _name(f) not in ours]
    os.environ["XLA_FLAGS"] = " ".join([*flags, *ours.values()])
    os.environ[OWN_FLAGS_ENV] = " ".join(ours.values())
    SINGLE_THREADED = all(f in os.environ["XLA_FLAGS"].split() for f in SINGLE_THREAD_FLAGS)


def device(name: str) -> Any:
    """The ``jax.Device`` for ``name``, or a clear error when JAX sees no CUDA device."""
    kind, index = parse_device(name)
    if kind == "cpu":
        return jax.devices("cpu")[0]
    gpus = _gpus()
    if index >= len(gpus):
        raise no_cuda(name, "jax", f"jax.devices('gpu') lists {len(gpus)} device(s) "
                      "(the CPU-only jaxlib wheel has none)")
    return gpus[index]


def _gpus() -> list[Any]:
    try:
        return list(jax.devices("gpu"))
    except RuntimeError:  # no GPU platform in this jaxlib
        return []


def tensor(array: Any, dev: Any, dtype: Any) -> Any:
    """``array`` (numpy or nested lists) as a ``dtype`` JAX array on ``dev``.

    The dtype is always explicit: with float64 allowed (``allow_float64``) only explicit
    requests give float64, so float32 ports keep their bits in any process.
    """
    return jax.device_put(jnp.asarray(np.asarray(array), dtype=dtype), dev)


def rnn_tanh(x: Any, h0: Any, w_xh: Any, w_hh: Any, b_xh: Any, b_hh: Any) -> tuple[Any, Any]:
    """One tanh RNN layer, time-major: x (T, B, I), h0 (B, H) -> outputs (T, B, H), h (B, H).

    The layer torch (``nn.RNN``) and MXNet (``gluon.rnn.RNN``) provide and JAX does not,
    computed in their order: the input projection of every step first (one matmul), then
    per step ``tanh((x_t W_xh + b_xh) + (h W_hh + b_hh))``. Canonical ``x @ W`` weights.
    """
    projected = x @ w_xh + b_xh  # (T, B, H)

    def step(h: Any, xw: Any) -> tuple[Any, Any]:
        h = jnp.tanh(xw + (h @ w_hh + b_hh))  # (B, H)
        return h, h

    h, outputs = jax.lax.scan(step, h0, projected)
    return outputs, h


@dataclass
class Slot:
    """One entry of an adapter's parameter dict, as ``ParamTable`` reads and loads it."""

    params: MutableMapping[str, Any]
    name: str

    @property
    def value(self) -> Any:
        return self.params[self.name]


def slots(params: MutableMapping[str, Any]) -> dict[str, Slot]:
    """The adapter's ``tensors()``: one slot per entry of its parameter dict, sorted by
    name. ``jax.jit`` returns dicts with sorted keys, so an update reorders a dict built in
    another order; readers that pair tensors by position (the training observables' update
    norm) must see one order before and after."""
    return {name: Slot(params, name) for name in sorted(params)}


def to_numpy(value: Any) -> np.ndarray:
    """A host copy of a JAX array, or of the array a ``Slot`` holds."""
    if isinstance(value, Slot):
        value = value.value
    return np.array(value, copy=True)


def assign(target: Slot, value: np.ndarray) -> None:
    """Rebind ``target``'s dict entry to ``value`` (its dtype and device kept)."""
    old = target.value
    target.params[target.name] = jax.device_put(jnp.asarray(value, dtype=old.dtype),
                                                old.device)


#: Adam's moments as checkpoints name them (torch's slot names) -> optax's field names.
ADAM_SLOTS = {"exp_avg": "mu", "exp_avg_sq": "nu"}


def _adam_index(opt_state: tuple[Any, ...]) -> int:
    """Where optax's ``ScaleByAdamState`` sits in a chained optimizer state."""
    for i, part in enumerate(opt_state):
        if all(hasattr(part, f) for f in ("count", "mu", "nu")):
            return i
    raise TypeError("this optimizer state holds no Adam moments (optax.ScaleByAdamState)")


def adam_state(opt_state: tuple[Any, ...]) -> tuple[dict[str, dict[str, Slot]], dict[str, Any]]:
    """optax Adam's moments as {slot: {storage name: slot}} and its step count, in the form
    ``SpecPort.checkpoint`` reads (the same slots and count as torch's Adam)."""
    adam = opt_state[_adam_index(opt_state)]
    moments = {slot: slots(dict(getattr(adam, name))) for slot, name in ADAM_SLOTS.items()}
    return moments, {"step": int(adam.count)}


def with_adam_state(opt_state: tuple[Any, ...], moments: Mapping[str, Mapping[str, Any]],
                    step: int) -> tuple[Any, ...]:
    """``opt_state`` with Adam's moments and step count replaced (each moment keeps the
    dtype and device of the one it replaces), so the next update computes the same bits
    as the uninterrupted run's."""
    i = _adam_index(opt_state)
    adam = opt_state[i]

    def like(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
        return {k: jax.device_put(jnp.asarray(new[k], dtype=v.dtype), v.device)
                for k, v in old.items()}

    fields = {name: like(getattr(adam, name), moments[slot]) for slot, name in ADAM_SLOTS.items()}
    adam = adam._replace(count=jnp.asarray(step, dtype=adam.count.dtype), **fields)
    return (*opt_state[:i], adam, *opt_state[i + 1:])


def key(value: int) -> Any:
    """A PRNG key for ``value`` (threefry, JAX's default: the same bits on every device)."""
    return jax.random.key(value)


def seed(value: int) -> None:
    """JAX has no global generator: ports draw from ``key(seed)``; nothing to seed here."""


def allow_float64() -> None:
    """Let explicitly float64 arrays stay float64 (float64 gradient checks).

    Process-global, but unlike ``jax_enable_x64`` it changes no default dtype: arrays
    built without an explicit 64-bit dtype stay 32-bit, so float32 ports in the same
    process keep their bits (tests/harness/backends/test_jax_backend.py checks it).
    """
    jax.config.update("jax_explicit_x64_dtypes", "allow")


def thread_info() -> dict[str, Any]:
    return {"xla_flags": os.environ.get("XLA_FLAGS", ""),
            "xla_single_threaded": SINGLE_THREADED,
            "matmul_precision": jax.config.jax_default_matmul_precision}


def cuda_available() -> bool:
    return bool(_gpus())


def _value(value: Any) -> Any:
    return value.value if isinstance(value, Slot) else value


def global_norm(tensors: list[Any]) -> float:
    """sqrt of the sum of squares of every element, in float64 (an observable: read-only).

    Summed on the host in numpy: JAX computes float64 on the device only where float64 is
    allowed, which a float32 run must not depend on.
    """
    total = math.fsum(float(np.sum(np.asarray(_value(t), dtype=np.float64) ** 2))
                      for t in tensors)
    return math.sqrt(total)


def snapshot(tensors: list[Any]) -> list[Any]:
    """The arrays themselves: JAX arrays are immutable, an update makes new ones."""
    return [_value(t) for t in tensors]


def distance(before: list[Any], after: list[Any]) -> float:
    """``||after - before||`` over all arrays, in float64."""
    diffs = [np.asarray(_value(a), dtype=np.float64) - np.asarray(b, dtype=np.float64)
             for a, b in zip(after, before, strict=True)]
    return global_norm(diffs)


def device_kind(name: str) -> str:
    """``cpu``, or ``cuda-sm<major><minor>`` from the GPU's compute capability."""
    dev = device(name)
    if getattr(dev, "platform", "cpu") == "cpu":
        return "cpu"
    capability = str(getattr(dev, "compute_capability", "") or "")
    return "cuda-sm" + capability.replace(".", "") if capability else "cuda"
