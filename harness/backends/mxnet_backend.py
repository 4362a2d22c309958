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
    """sqrt of the sum of squares of every element, in float64 (an observable: read-only),
    summed on the host by ``sum_of_squares`` (bits fixed by its algorithm, not the machine)."""
    return math.sqrt(sum_of_squares(_flat64(_host(tensors)))[0])


def _nd(value: Any) -> Any:
    """An NDArray view of an NDArray, an mxnet.numpy array or a Parameter's data."""
    data = _data(value)
    return data.as_nd_ndarray() if isinstance(data, mx.np.ndarray) else data


def snapshot(tensors: list[Any]) -> list[Any]:
    """Copies on the arrays' own context."""
    return [_data(t).copy() for t in tensors]


def distance(before: list[Any], after: list[Any]) -> float:
    """``||after - before||`` over all arrays, in float64."""
    diff = _flat64(_host(after)) - _flat64(_host(before))
    return math.sqrt(sum_of_squares(diff)[0])


# -- float64 sums on the host --------------------------------------------------------------
#: Elements per block of a sum: numpy (1.23 and 2.x) sums a C-contiguous row of at most this
#: many float64 elements with one pairwise pass, ``add.reduce(rows, axis=1)`` each row as it
#: sums that row alone; a longer row numpy 1.23 may cut at its buffer size (8192), so rows
#: are cut here first (tests/harness/backends/test_mxnet_norms.py). numpy 1.23 also cuts
#: shorter rows under a buffer size set below 4096 (``np.setbufsize``; no port does).
BLOCK = 8192


def _host(tensors: list[Any]) -> list[np.ndarray]:
    """Host copies of ``tensors`` in their own dtype (from any context)."""
    return [_nd(t).asnumpy() for t in tensors]


def _width(size: int) -> int:
    """``size`` elements padded with zeros to whole blocks (a row up to a block stays)."""
    return size if size <= BLOCK else -(-size // BLOCK) * BLOCK


def _flat64(arrays: list[np.ndarray]) -> np.ndarray:
    """Every element of ``arrays`` in order (C order each), as float64, zero-padded to
    ``_width``: one fresh C-contiguous row of ``sum_of_squares``."""
    size = sum(a.size for a in arrays)
    out = np.zeros(_width(size))
    if size:
        np.concatenate([a.reshape(-1) for a in arrays], out=out[:size])
    return out


def sum_of_squares(rows: np.ndarray) -> list[float]:
    """Per row of ``rows`` (a fresh C-contiguous float64 array, one row or a 2-D table of
    ``_width``-wide rows), squared in place: the sum of its squares. Each block of a row is
    summed by numpy's pairwise ``add.reduce`` (plain C: no BLAS, the same bits under every
    SIMD target numpy dispatches to and in numpy 1.23 and 2.x), the blocks of a longer row
    by ``math.fsum`` (correctly rounded)."""
    table = rows.reshape(-1, rows.shape[-1])
    np.square(table, out=table)
    width = table.shape[1]
    if width <= BLOCK:
        return list(np.add.reduce(table, axis=1).tolist())
    blocks = np.add.reduce(table.reshape(-1, BLOCK), axis=1).reshape(len(table), -1)
    return [math.fsum(row) for row in blocks.tolist()]


# -- observables of many steps at once: the observer's fast path (issue 22) ----------------
#: Bytes of step copies one tape holds before the observer measures them.
TAPE_BYTES = 8 << 20
#: Steps larger than this are measured at once from host copies (char_rnn): a tape would
#: only add an MXNet copy to the host copy and the sum each needs anyway.
TAPE_ROW_BYTES = 64 << 10


class _Tape:
    """Copies of lists of arrays of one layout (dtype, context, shapes), a row each: a row
    holds a list's elements in ``_flat64``'s order, so its norm is ``global_norm``'s."""

    def __init__(self, layout: tuple[Any, ...]):
        dtype, ctx, *shapes = layout
        self.width = max(1, sum(math.prod(s) for s in shapes))
        row_bytes = self.row_bytes(layout)
        self.capacity = 0 if row_bytes > TAPE_ROW_BYTES else min(1024, TAPE_BYTES // row_bytes)
        self.buf = mx.nd.zeros((max(1, self.capacity), self.width), ctx=ctx, dtype=dtype)
        self.rows = 0

    @staticmethod
    def row_bytes(layout: tuple[Any, ...]) -> int:
        dtype, _, *shapes = layout
        return max(1, sum(math.prod(s) for s in shapes)) * np.dtype(dtype).itemsize

    def write(self, row: int, lists: list[list[Any]]) -> None:
        """Copy ``lists`` (one-row views of arrays of this layout) into rows ``row``,
        ``row + 1``, ...: one concat into the rows seen as one long row (they are adjacent
        in memory)."""
        flat = [a for views in lists for a in views]
        out = self.buf[row:row + len(lists)].reshape((1, self.width * len(lists)))
        mx.nd.concat(*flat, dim=1, out=out)

    def host(self, start: int, stop: int, extra: int = 0) -> np.ndarray:
        """Rows ``start:stop`` on the host as float64 ``_width``-wide rows (a fresh array),
        with ``extra`` rows of zeros below."""
        out = np.zeros((stop - start + extra, _width(self.width)))
        out[:stop - start, :self.width] = self.buf[start:stop].asnumpy()
        return out


def _tape_layout(arrays: list[Any]) -> tuple[Any, ...] | None:
    """The tape key of ``arrays`` (NDArrays), or None where a tape cannot hold them (mixed
    dtypes or contexts, not float32/64, sparse)."""
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
    float64 norms of every recorded step later, one host copy and a few numpy calls per
    tape. The values equal ``global_norm``/``distance``'s bit for bit; arrays no tape can
    hold are measured at once from host copies.

    Per step: ``gradients(grads, params)``, optionally ``clipped(grads)``, ``step(params)``;
    ``full`` says ``results()`` must be taken before the next step."""

    def __init__(self) -> None:
        self._tapes: dict[tuple[Any, ...], _Tape] = {}
        self._steps: list[dict[str, Any]] = []
        self._current: dict[str, Any] = {}
        self._known: dict[tuple[int, ...], tuple[list[Any], Any, list[Any]]] = {}
        self.full = False

    def _views(self, tensors: list[Any]) -> tuple[Any, list[Any]]:
        """(tape layout or None, the arrays as one-row views) of ``tensors``. A list of the
        same arrays as a recent call (parameters; gluon's gradients) is looked up: an
        NDArray's shape, dtype and context never change, and reading them or making a view
        costs MXNet calls of several microseconds each, per array and step. The arrays are
        held, so their ids cannot be reused; at most 8 lists (``attach_grad``'s gradients
        are new objects each step), only lists a tape can hold."""
        arrays = [_data(t) for t in tensors]
        key = tuple(map(id, arrays))
        known = self._known.pop(key, None)
        if known is None:
            nds = [_nd(a) for a in arrays]
            layout = _tape_layout(nds)
            if layout is None or _Tape.row_bytes(layout) > TAPE_ROW_BYTES:
                return None, nds
            known = (arrays, layout, [a.reshape((1, -1)) for a in nds])
            if len(self._known) >= 8:
                self._known.pop(next(iter(self._known)))
        self._known[key] = known  # the most recent last
        return known[1], known[2]

    def _record(self, *lists: list[Any]) -> list[tuple[_Tape, int] | None]:
        layouts, views = zip(*(self._views(tensors) for tensors in lists), strict=True)
        if len(set(layouts)) != 1 or layouts[0] is None:  # one write per call, or none
            return [None] * len(lists)
        tape = self._tapes.get(layouts[0])
        if tape is None:
            tape = self._tapes[layouts[0]] = _Tape(layouts[0])
        if tape.rows + len(lists) > tape.capacity:
            return [None] * len(lists)
        first, tape.rows = tape.rows, tape.rows + len(lists)
        tape.write(first, list(views))
        if tape.rows + 4 > tape.capacity:  # no room for one more step (up to 4 rows)
            self.full = True
        return [(tape, first + k) for k in range(len(lists))]

    def gradients(self, grads: list[Any], params: list[Any]) -> None:
        grad, before = self._record(grads, params)
        if grad is None or before is None:  # a large step: measured now, on the host
            seen = _host(grads)  # the gradients as they are, for clipped()
            self._current = {"grad": _norm(_flat64(seen)), "seen": seen,
                             "before": _flat64(_host(params))}
        else:
            self._current = {"grad": grad, "before": before}

    def clipped(self, grads: list[Any]) -> None:
        post: Any
        post, = self._record(grads)
        if post is None:
            now = _host(grads)
            same = _unchanged(now, self._current.get("seen"))
            post = self._current["grad"] if same else _norm(_flat64(now))
        self._current["post"] = post

    def step(self, params: list[Any]) -> None:
        current, self._current = self._current, {}
        before, (after,) = current["before"], self._record(params)
        if after is not None and isinstance(before, tuple) and before[0] is after[0]:
            current["after"] = after
        else:  # the parameter norm and the update norm from one host copy
            now = _flat64(_host(params))
            was = before if isinstance(before, np.ndarray) else _row(*before)
            update = now - was
            current["param"], current["update"] = _norm(now), _norm(update)
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
            pairs = [(k, s["after"][1], s["before"][1]) for k, s in enumerate(steps)
                     if "after" in s and s["after"][0] is tape]
            ks, after, before = ([list(c) for c in zip(*pairs, strict=True)] if pairs
                                 else ([], [], []))
            table = tape.host(0, tape.rows, extra=len(pairs))
            rows = table[:tape.rows]  # the update rows go below: one squaring, one sum
            np.subtract(rows[after], rows[before], out=table[tape.rows:])
            values = [math.sqrt(v) for v in sum_of_squares(table)]
            norms.update({(id(tape), i): v for i, v in enumerate(values[:tape.rows])})
            updates.update(zip(ks, values[tape.rows:], strict=True))
            tape.rows = 0
        self.full = False
        return [(_looked_up(s["grad"], norms), _looked_up(s.get("post"), norms),
                 _looked_up(s["after"], norms) if "after" in s else s["param"],
                 updates[k] if "after" in s else s["update"]) for k, s in enumerate(steps)]


def _norm(flat: np.ndarray) -> float:
    """sqrt of ``sum_of_squares`` of one ``_flat64`` row (squared in place)."""
    return math.sqrt(sum_of_squares(flat)[0])


def _row(tape: _Tape, row: int) -> np.ndarray:
    """One tape row as a ``_flat64`` row."""
    return tape.host(row, row + 1)[0]


def _unchanged(now: list[np.ndarray], seen: list[np.ndarray] | None) -> bool:
    """Whether the host copies ``now`` hold exactly the values ``seen`` (taken before the
    tutorial's clipping): then their norm is the one already measured, and a large step
    (char_rnn) skips a cast and a sum for a compare. NaN never compares equal, so it is
    measured."""
    return seen is not None and len(seen) == len(now) and all(
        np.array_equal(a, b) for a, b in zip(now, seen, strict=True))


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
