"""The MXNet backend: contexts, arrays <-> numpy, parameter assignment.

Handles the three kinds of MXNet values the ports hold: ``nd.NDArray``, ``mxnet.numpy``
arrays (d2l 0.17.6's ``npx.set_np()`` code) and Gluon ``Parameter``s.
"""

from __future__ import annotations

import math
import os
from typing import Any

import mxnet as mx
import numpy as np

from harness.backends import no_cuda, parse_device

FRAMEWORK = "mxnet"


def context(device: str) -> Any:
    """An ``mxnet.Context`` for ``device``, or a clear error when CUDA is absent."""
    kind, index = parse_device(device)
    if kind == "cpu":
        return mx.cpu()
    count = mx.context.num_gpus()
    if index >= count:
        raise no_cuda(device, "mxnet", f"mxnet.context.num_gpus() is {count}")
    return mx.gpu(index)


def to_numpy(value: Any) -> np.ndarray:
    """A host copy of an NDArray, an ``mxnet.numpy`` array or a Gluon Parameter's data."""
    if isinstance(value, mx.gluon.Parameter):
        value = value.data()
    return np.array(value.asnumpy(), copy=True)


def assign(target: Any, value: np.ndarray) -> None:
    """Copy ``value`` into ``target`` in place, in the target's own array kind and dtype."""
    if isinstance(target, mx.gluon.Parameter):
        data = target.data()
        target.set_data(_like(data, value))
    else:
        target[:] = _like(target, value)


def _like(array: Any, value: np.ndarray) -> Any:
    value = np.asarray(value, dtype=array.dtype)
    if isinstance(array, mx.nd.NDArray) and not isinstance(array, mx.np.ndarray):
        return mx.nd.array(value, ctx=array.context, dtype=array.dtype)
    return mx.np.array(value, dtype=array.dtype, ctx=array.context)


def seed(value: int) -> None:
    mx.random.seed(value)


#: OpenMP threads per operator and CPU engine workers, as MXNet's engine read them when it
#: started (at import; it never reads them again; unset: MXNet's own default).
#: ``harness.seeding`` sets both before a port imports MXNet.
_AT_IMPORT = {"mxnet_omp_threads": os.environ.get("OMP_NUM_THREADS"),
              "mxnet_worker_threads": os.environ.get("MXNET_CPU_WORKER_NTHREADS")}


def set_threads(count: int) -> None:
    """Nothing can change MXNet's threads once it is imported: its engine's workers read
    ``OMP_NUM_THREADS`` at start-up, and ``MXSetNumOMPThreads`` sets only the calling
    thread's OpenMP count (measured: an engine op then starts no second thread). The count
    comes from the environment ``harness.seeding`` sets before a port imports MXNet;
    ``thread_info`` reports the one in force."""


def thread_info() -> dict[str, Any]:
    return dict(_AT_IMPORT)


def cuda_available() -> bool:
    return bool(mx.context.num_gpus() > 0)


def _data(value: Any) -> Any:
    return value.data() if isinstance(value, mx.gluon.Parameter) else value


def global_norm(tensors: list[Any]) -> float:
    """sqrt of the sum of squares of every element, in float64 (an observable: read-only);
    one host sync for all tensors."""
    sums = [mx.nd.sum(mx.nd.square(_nd(t).astype("float64"))) for t in tensors]
    total = mx.nd.add_n(*sums) if len(sums) > 1 else sums[0]
    return math.sqrt(float(total.asscalar()))


def _nd(value: Any) -> Any:
    """An NDArray view of an NDArray, an mxnet.numpy array or a Parameter's data."""
    data = _data(value)
    return data.as_nd_ndarray() if isinstance(data, mx.np.ndarray) else data


def snapshot(tensors: list[Any]) -> list[Any]:
    """Copies on the arrays' own context."""
    return [_data(t).copy() for t in tensors]


def distance(before: list[Any], after: list[Any]) -> float:
    """``||after - before||`` over all arrays, in float64."""
    diffs = [_nd(a).astype("float64") - _nd(b).astype("float64")
             for a, b in zip(after, before, strict=True)]
    return global_norm(diffs)

