"""The MXNet backend: contexts, arrays <-> numpy, parameter assignment.

Handles the three kinds of MXNet values the ports hold: ``nd.NDArray``, ``mxnet.numpy``
arrays (d2l 0.17.6's ``npx.set_np()`` code) and Gluon ``Parameter``s.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import gluon, nd

from harness.backends import no_cuda, one_adam_step, parse_device
from harness.errors import UsageError

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
#: ``harness.seeding`` sets them (and the engine type) before a port imports MXNet.
_AT_IMPORT = {"mxnet_omp_threads": os.environ.get("OMP_NUM_THREADS"),
              "mxnet_worker_threads": os.environ.get("MXNET_CPU_WORKER_NTHREADS"),
              "mxnet_engine": os.environ.get("MXNET_ENGINE_TYPE") or "ThreadedEnginePerDevice"}


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


# -- gluon Trainer's Adam state <-> checkpoint slots --------------------------------------
#: gluon's (mean, var) are torch's exp_avg / exp_avg_sq: the checkpoint uses one slot name
_ADAM_SLOTS = ("exp_avg", "exp_avg_sq")


def adam_state(trainer: gluon.Trainer, tensors: Mapping[str, Any], port: str
               ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The trainer's Adam state as {slot: {storage path: NDArray}} and {"step": int}.

    gluon keeps it in private members: the updater's ``states[i]`` = (mean, var), created at
    a parameter's first update, and the optimizer's per-device ``_index_update_count[i]``
    (Adam's t), where ``i`` is the parameter's position in the trainer."""
    updater, opt = _single_updater(trainer, port), trainer._optimizer
    index = {id(p): i for i, p in enumerate(trainer._params)}
    slots: dict[str, dict[str, Any]] = {slot: {} for slot in _ADAM_SLOTS}
    steps = {}
    for path, param in tensors.items():
        i, weight = index[id(param)], param.data()
        counts = opt._all_index_update_counts.get(weight.context.device_id, {})
        steps[path] = int(counts.get(i, opt.begin_num_update))
        state = updater.states.get(i) or (nd.zeros_like(weight), nd.zeros_like(weight))
        for slot, value in zip(_ADAM_SLOTS, state, strict=True):
            slots[slot][path] = value
    return slots, {"step": one_adam_step(steps, port)}


def load_adam_state(trainer: gluon.Trainer, tensors: Mapping[str, Any],
                    slots: Mapping[str, Mapping[str, np.ndarray]], step: int, port: str
                    ) -> None:
    """The trainer's state after ``step`` updates, as ``Updater.__call__`` and
    ``Adam.update`` (MXNet 1.9.1) leave it, so the next ``trainer.step`` computes the same
    bits as the uninterrupted run. Before the first step there is none (step 0)."""
    updater, opt = _single_updater(trainer, port), trainer._optimizer
    index = {id(p): i for i, p in enumerate(trainer._params)}
    updater.states.clear()
    updater.states_synced.clear()
    for counts in opt._all_index_update_counts.values():
        counts.clear()
    opt.num_update = opt.begin_num_update
    if step == 0:
        return
    for path, param in tensors.items():
        i, weight = index[id(param)], param.data()
        updater.states[i] = tuple(nd.array(np.asarray(slots[slot][path]), ctx=weight.context,
                                           dtype=weight.dtype) for slot in _ADAM_SLOTS)
        updater.states_synced[i] = True  # already on the weight's context
        opt._set_current_context(weight.context.device_id)
        opt._index_update_count[i] = step
        opt.num_update = max(opt.num_update, step)


def _single_updater(trainer: gluon.Trainer, port: str) -> Any:
    """The trainer's one local updater. With one device gluon makes no kvstore, so the
    updater holds the state; with several, a kvstore may hold it out of reach."""
    if not trainer._kv_initialized:
        trainer._init_kvstore()  # what the first trainer.step does (no kvstore on 1 device)
    if trainer._kvstore is not None or len(trainer._updaters) != 1:
        raise UsageError(
            "This trainer keeps its optimizer state in a kvstore or on several devices, "
            "which checkpoints do not cover.",
            context={"contexts": trainer._contexts, "kvstore": trainer._kvstore},
            fix="checkpoint a port trained on one device (--device cpu or one GPU).",
            port=port)
    return trainer._updaters[0]
