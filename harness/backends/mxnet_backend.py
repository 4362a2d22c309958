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
    one host sync for all tensors. A float64 array is squared as it is (no copy first)."""
    sums = [mx.nd.sum(mx.nd.square(_nd(t).astype("float64", copy=False))) for t in tensors]
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


# -- observables of many steps at once: the observer's fast path (issue 22) ----------------
#: Bytes of step copies one tape holds before the observer measures them.
TAPE_BYTES = 8 << 20
#: Steps larger than this are measured at once: their cost is MXNet's float64 sum itself
#: (a compensated sum, ~7 ns an element here), which a tape only adds copies to (char_rnn).
TAPE_ROW_BYTES = 64 << 10


class _Tape:
    """Copies of lists of arrays of one layout (dtype, context, shapes), a row each.

    MXNet sums a float64 array's rows (``sum(axis=1)``) each as it sums that row alone
    (one compensated pass in order), so a tensor's part of a row has the sum of squares
    ``global_norm`` takes of that tensor (tests/harness/backends/test_mxnet_tape.py)."""

    def __init__(self, layout: tuple[Any, ...]):
        dtype, ctx, *shapes = layout
        self.shapes = shapes
        self.sizes = [math.prod(s) for s in shapes]
        self.width = max(1, sum(self.sizes))
        row_bytes = self.width * np.dtype(dtype).itemsize
        self.capacity = 0 if row_bytes > TAPE_ROW_BYTES else min(1024, TAPE_BYTES // row_bytes)
        self.buf = mx.nd.zeros((max(1, self.capacity), self.width), ctx=ctx, dtype=dtype)
        self.rows = 0

    def write(self, row: int, lists: list[list[Any]]) -> None:
        """Copy ``lists`` (arrays of this layout) into rows ``row``, ``row + 1``, ...: one
        concat into the rows seen as one long row (they are adjacent in memory)."""
        flat = [a.reshape((1, -1)) for arrays in lists for a in arrays]
        out = self.buf[row:row + len(lists)].reshape((1, self.width * len(lists)))
        mx.nd.concat(*flat, dim=1, out=out)

    def norms(self, rows: Any) -> list[float]:
        """Per row of ``rows`` (float64 NDArray of this layout): the global norm, each
        tensor's sum of squares taken alone and the sums added in ``add_n``'s order."""
        squares = mx.nd.square(rows)
        sums, start = [], 0
        for size in self.sizes:
            sums.append(mx.nd.sum(mx.nd.slice_axis(squares, axis=1, begin=start,
                                                   end=start + size), axis=1))
            start += size
        table = mx.nd.stack(*sums, axis=1).asnumpy().tolist()
        return [math.sqrt(_fold(row)) for row in table]


def _fold(sums: list[float]) -> float:
    """The float64 adds of ``add_n`` over ``sums``, in its order (measured, MXNet 1.9.1):
    three or four inputs from the last, ((s3 + s2) + s1) + s0; else from the first."""
    if len(sums) in (3, 4):
        total = sums[-1]
        for s in reversed(sums[:-1]):
            total += s
        return total
    total = sums[0]
    for s in sums[1:]:
        total += s
    return total


def _tape_layout(arrays: list[Any]) -> tuple[Any, ...] | None:
    """The tape key of ``arrays`` (NDArrays), or None where a tape would not give the bits
    of ``global_norm`` (mixed dtypes or contexts, not float32/64, sparse)."""
    if not arrays:
        return None
    dtype, ctx = arrays[0].dtype, arrays[0].context
    if dtype not in (np.float32, np.float64):
        return None
    shapes = []
    for a in arrays:
        if a.dtype != dtype or a.context != ctx or a.stype != "default":
            return None
        shapes.append(a.shape)
    return (dtype, ctx, *shapes)


class StepRecorder:
    """The observer's per-step recording: copies now (one concat per observer call), the
    float64 norms of every recorded step later, a few MXNet calls per tensor per batch
    where ``global_norm``/``distance`` take several per tensor per step. The values equal
    theirs bit for bit; arrays no tape can hold are measured at once with them.

    Per step: ``gradients(grads, params)``, optionally ``clipped(grads)``, ``step(params)``;
    ``full`` says ``results()`` must be taken before the next step."""

    def __init__(self) -> None:
        self._tapes: dict[tuple[Any, ...], _Tape] = {}
        self._steps: list[dict[str, Any]] = []
        self._current: dict[str, Any] = {}
        self.full = False

    def _record(self, *lists: list[Any]) -> list[tuple[_Tape, int] | None]:
        arrays = [[_nd(t) for t in tensors] for tensors in lists]
        layouts = [_tape_layout(a) for a in arrays]
        if len(set(layouts)) != 1 or layouts[0] is None:  # one write per call, or none
            return [None] * len(lists)
        tape = self._tapes.get(layouts[0])
        if tape is None:
            tape = self._tapes[layouts[0]] = _Tape(layouts[0])
        if tape.rows + len(lists) > tape.capacity:
            return [None] * len(lists)
        first, tape.rows = tape.rows, tape.rows + len(lists)
        tape.write(first, arrays)
        if tape.rows + 4 > tape.capacity:  # no room for one more step (up to 4 rows)
            self.full = True
        return [(tape, first + k) for k in range(len(lists))]

    def gradients(self, grads: list[Any], params: list[Any]) -> None:
        grad, before = self._record(grads, params)
        self._current = {"grad": grad or global_norm(grads),
                         "before": before or [_nd(p).astype("float64") for p in params]}
        if grad is None:  # a large step: its gradients as they are, for clipped()
            self._current["seen"] = [_nd(g).asnumpy() for g in grads]

    def clipped(self, grads: list[Any]) -> None:
        post, = self._record(grads)
        if post is None and _unchanged(grads, self._current.get("seen")):
            post = self._current["grad"]  # the same values: global_norm's same bits
        self._current["post"] = post or global_norm(grads)

    def step(self, params: list[Any]) -> None:
        current, self._current = self._current, {}
        before, (after,) = current["before"], self._record(params)
        if after is not None and isinstance(before, tuple) and before[0] is after[0]:
            current["after"] = after
        else:  # global_norm(params) and distance(before, params), one float64 copy shared
            now = [_nd(p).astype("float64") for p in params]
            was = _row_arrays(*before) if isinstance(before, tuple) else before
            current["param"] = global_norm(now)
            current["update"] = global_norm(
                [a - b.astype("float64", copy=False) for a, b in zip(now, was, strict=True)])
        self._steps.append(current)

    def results(self) -> list[tuple[float, float | None, float, float]]:
        """(grad norm, clipped grad norm or None, param norm, update norm) of every step
        recorded since the last call, in order; the tapes are empty again after it."""
        steps, self._steps = self._steps, []
        norms: dict[tuple[int, int], float] = {}
        updates: dict[int, float] = {}
        for tape in self._tapes.values():
            if not tape.rows:
                continue
            rows = tape.buf[:tape.rows].astype("float64")
            pairs = [(k, s["after"][1], s["before"][1]) for k, s in enumerate(steps)
                     if "after" in s and s["after"][0] is tape]
            ks, after, before = zip(*pairs, strict=True) if pairs else ((), (), ())
            if pairs:  # the update rows go below the others: one squaring, one sum each
                diffs = (mx.nd.take(rows, mx.nd.array(after, ctx=rows.context))
                         - mx.nd.take(rows, mx.nd.array(before, ctx=rows.context)))
                rows = mx.nd.concat(rows, diffs, dim=0)
            values = tape.norms(rows)
            norms.update({(id(tape), i): v for i, v in enumerate(values[:tape.rows])})
            updates.update(zip(ks, values[tape.rows:], strict=True))
            tape.rows = 0
        self.full = False
        return [(_looked_up(s["grad"], norms), _looked_up(s.get("post"), norms),
                 _looked_up(s["after"], norms) if "after" in s else s["param"],
                 updates[k] if "after" in s else s["update"]) for k, s in enumerate(steps)]


def _unchanged(grads: list[Any], seen: list[np.ndarray] | None) -> bool:
    """Whether ``grads`` hold exactly the values ``seen`` (host copies taken before the
    tutorial's clipping): then their float64 norm is the one already measured, and a large
    step (char_rnn) skips a compensated float64 sum (~7 ns an element) for a host copy and
    a compare (~1.5 ns an element). NaN never compares equal, so it is measured."""
    return seen is not None and len(seen) == len(grads) and all(
        np.array_equal(_nd(g).asnumpy(), s) for g, s in zip(grads, seen, strict=True))


def _row_arrays(tape: _Tape, row: int) -> list[Any]:
    """A tape row as arrays shaped like the recorded ones (copies)."""
    parts, start = [], 0
    for size, shape in zip(tape.sizes, tape.shapes, strict=True):
        parts.append(tape.buf[row][start:start + size].reshape(shape))
        start += size
    return parts


def _looked_up(value: Any, norms: Mapping[tuple[int, int], float]) -> Any:
    """A value measured at once (float or None), or a tape row's norm."""
    return norms[(id(value[0]), value[1])] if isinstance(value, tuple) else value


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
