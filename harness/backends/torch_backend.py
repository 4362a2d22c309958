"""The PyTorch backend: devices, tensors <-> numpy, parameter assignment, float64."""

from __future__ import annotations

import contextlib
import math
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from harness.backends import no_cuda, one_adam_step, parse_device

FRAMEWORK = "torch"


def device(name: str) -> torch.device:
    """A ``torch.device`` for ``name``, or a clear error when CUDA is absent."""
    kind, index = parse_device(name)
    if kind == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise no_cuda(name, "torch", "torch.cuda.is_available() is False")
    if index >= torch.cuda.device_count():
        raise no_cuda(name, "torch", f"only {torch.cuda.device_count()} device(s)")
    return torch.device("cuda", index)


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A host copy of ``tensor``'s values (graph and device left behind)."""
    return tensor.detach().cpu().numpy().copy()


def tensor(array: Any, dev: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``array`` (numpy or nested lists) as a tensor on ``dev``."""
    return torch.as_tensor(np.asarray(array), device=dev, dtype=dtype)


def assign(param: torch.Tensor, value: np.ndarray) -> None:
    """Copy ``value`` into ``param`` in place (its dtype and device kept)."""
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


class no_grad:  # noqa: N801 (used as torch.no_grad is)
    """``torch.no_grad()`` for a few ops on the hot path: the same switch, without its
    Python layers (0.5 us where ``torch.no_grad()`` takes 1.5 us, measured; elman_sine's
    steps take ~170 us and its harness budget is a few us)."""

    __slots__ = ("_prev",)

    def __enter__(self) -> None:
        self._prev = torch._C.is_grad_enabled()
        torch._C._set_grad_enabled(False)

    def __exit__(self, *exc: object) -> None:
        torch._C._set_grad_enabled(self._prev)


def filled_grad(param: torch.Tensor) -> torch.Tensor:
    """``param.grad`` after ``backward()``; ``None`` there is a bug in the training loop."""
    if param.grad is None:
        raise RuntimeError("backward() did not reach this parameter: its .grad is None")
    return param.grad


def np_dtype(dtype: torch.dtype) -> type[np.floating[Any]]:
    return np.float64 if dtype == torch.float64 else np.float32


def seed(value: int) -> None:
    """Seed torch (every CUDA device too) and force its deterministic modes."""
    torch.manual_seed(value)
    _deterministic_algorithms()
    torch.backends.cudnn.benchmark = False
    # cuDNN (RNN layers, convolutions) defaults to TF32 on Ampere+ GPUs: ~1e-3 relative
    # error against the float32 the tutorials compute on the CPU. Keep full float32.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def _deterministic_algorithms() -> None:
    """What ``torch.use_deterministic_algorithms(True)`` does, without its cost on the CPU.

    The public call sets the ATen flag (every op, CPU and CUDA, checks it) and imports
    ``torch._inductor`` (and ``torch._dynamo``) only to set the compiler's own
    ``deterministic`` option: 2.3 to 4 s per process, measured, for ports that never
    compile. Here the ATen flag is set directly; the compiler's option comes from
    ``TORCHINDUCTOR_DETERMINISTIC=1`` (``harness.seeding.DETERMINISM_ENV``), which it reads
    when first imported, or is set on it when it is already loaded. Where CUDA is usable
    the public call is kept: CUDA start-up dwarfs its cost there.
    """
    set_flag = getattr(torch._C, "_set_deterministic_algorithms", None)
    if set_flag is None or torch.cuda.is_available():
        torch.use_deterministic_algorithms(True)
        return
    set_flag(True)
    inductor = sys.modules.get("torch._inductor.config")
    if inductor is not None:
        inductor.deterministic = True  # type: ignore[attr-defined]


def set_threads(count: int) -> None:
    """``count`` intra-op threads from now on, and as many inter-op threads where torch
    still allows it: it refuses once inter-op work has started in this process, and keeps
    the pool it made (``thread_info`` reports it; these ports run no inter-op work)."""
    torch.set_num_threads(count)
    if torch.get_num_interop_threads() != count:
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(count)


def thread_info() -> dict[str, Any]:
    return {"torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads()}


def cuda_available() -> bool:
    return bool(torch.cuda.is_available())


def global_norm(tensors: list[torch.Tensor]) -> float:
    """sqrt of the sum of squares of every element, in float64 (an observable: read-only).

    One float64 copy per tensor, squared in place: the values of ``t.double().pow(2).sum()``
    bit for bit (x * x is what pow(x, 2) computes, summed in the same layout and order).
    A large contiguous CPU tensor is copied into a float64 buffer this thread keeps
    (``_float64_copy``): a fresh 2 MB buffer per call cost page faults that made the
    observer 16 % of a char_rnn/torch-scratch epoch.
    """
    with torch.no_grad():
        total = torch.zeros((), dtype=torch.float64, device=tensors[0].device)
        for t in tensors:
            total = total + _squared_sum(_float64_copy(t, 0))
    return math.sqrt(float(total))


def _squared_sum(owned: torch.Tensor) -> torch.Tensor:
    """Sum of squares of a float64 tensor the caller owns (squared in place)."""
    return owned.mul_(owned).sum()


#: Below this many elements a fresh copy costs less than finding a kept buffer.
_KEPT_MIN = 4096
_KEPT = threading.local()


def _float64_copy(t: torch.Tensor, slot: int) -> torch.Tensor:
    """``t``'s values in float64, in memory the caller may overwrite until it asks again
    for ``slot``. Contiguous CPU tensors of ``_KEPT_MIN`` elements or more go into a buffer
    kept per thread and slot (same values, same contiguous order, so the same sums); any
    other tensor gets a fresh copy in its own layout, whose memory order its sum follows."""
    t = t.detach()
    numel = t.numel()
    if numel < _KEPT_MIN or not t.is_cpu or not t.is_contiguous():
        return t.to(torch.float64, copy=True)
    kept: dict[int, torch.Tensor] = _KEPT.__dict__.setdefault("buffers", {})
    buf = kept.get(slot)
    if buf is None or buf.numel() < numel:
        buf = kept[slot] = torch.empty(numel, dtype=torch.float64)
    return buf[:numel].view(t.shape).copy_(t)


def snapshot(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Detached copies, on the tensors' own device."""
    return [t.detach().clone() for t in tensors]


def distance(before: list[torch.Tensor], after: list[torch.Tensor]) -> float:
    """``||after - before||`` over all tensors, in float64: per tensor float64 copies of
    ``after`` and ``before`` (``_float64_copy``), subtracted (the values of
    ``a.double() - b.double()``), squared and summed in place as in ``global_norm``."""
    with torch.no_grad():
        total = torch.zeros((), dtype=torch.float64, device=after[0].device)
        for a, b in zip(after, before, strict=True):
            diff = _float64_copy(a, 0).sub_(_float64_copy(b, 1))
            total = total + _squared_sum(diff)
    return math.sqrt(float(total))


# -- observables of many steps at once: the observer's fast path (issue 22) ----------------
#: Bytes of step copies one tape holds before the observer measures them.
TAPE_BYTES = 4 << 20
#: Steps larger than this are measured at once: for them memory traffic, not the count of
#: ATen calls, is the cost, and a tape would add a copy (char_rnn, measured).
TAPE_ROW_BYTES = 64 << 10
#: ATen sums at least this many elements in per-thread chunks when it has several threads.
_GRAIN = 32768
_TAPE_DTYPES = (torch.float32, torch.float64)


class _Tape:
    """float64 copies of lists of contiguous CPU tensors of one layout (shapes, dtype), a
    row each, and room below them for the steps' update rows (after - before).

    The float64 sum of squares of a tensor's part of a row is ``_squared_sum`` of that
    tensor's float64 copy bit for bit: ATen sums each row of a (rows, n) matrix, and each
    (row, k) of a (rows, k, n) block of k tensors of one size side by side, as it sums that
    n-element tensor alone (tests/harness/backends/test_torch_tape.py and
    test_torch_hot_path.py check it). Rows are float64 from the start (the copy casts,
    exactly), so measuring them copies nothing."""

    def __init__(self, layout: tuple[Any, ...]):
        dtype, *shapes = layout
        self.layout = layout
        self.shapes = shapes
        self.sizes = [math.prod(s) for s in shapes]
        width = max(1, sum(self.sizes))
        step_bytes = width * (4 if dtype == torch.float32 else 8)  # what a step shows
        self.capacity = (0 if step_bytes > TAPE_ROW_BYTES
                         else min(1024, TAPE_BYTES // (width * 8)))
        # recorded rows, then as many for the update rows (at most one a step, two rows)
        self.buf = torch.empty((2 * self.capacity, sum(self.sizes)), dtype=torch.float64)
        self._views: list[list[torch.Tensor] | None] = [None] * self.capacity
        self._spans: dict[tuple[int, int], list[torch.Tensor]] = {}
        #: row i's views for a run's step: gradients and parameters (i = 3k), after (3k + 2)
        self.spans: list[list[torch.Tensor] | None] = [None] * self.capacity
        self.groups = _groups(self.sizes)
        self._cache: dict[tuple[Any, ...], Any] = {}
        self.rows = 0

    def row(self, i: int) -> list[torch.Tensor]:
        """Row ``i`` as tensors shaped like the recorded ones (views, made once)."""
        views = self._views[i]
        if views is None:
            parts = self.buf[i].split(self.sizes)
            views = self._views[i] = [p.view(s) for p, s in zip(parts, self.shapes, strict=True)]
        return views

    def views(self, i: int, count: int) -> list[torch.Tensor]:
        """Rows ``i`` to ``i + count - 1`` as one list of tensors (made once per pair)."""
        views = self._spans.get((i, count))
        if views is None:
            views = self._spans[(i, count)] = [v for k in range(i, i + count)
                                               for v in self.row(k)]
        return views

    def measure(self, after: list[int], before: list[int]) -> list[float]:
        """The global norm of every recorded row, then of ``after[k] - before[k]`` for each
        k (written below the recorded rows); the tape is empty again after it."""
        n, m = self.rows, len(after)
        rows = self.buf[:n + m]
        if m:
            torch.sub(rows[_rows(after)], rows[_rows(before)], out=rows[n:])
        self.rows = 0
        return self.norms(rows)

    def measure_run(self, steps: int) -> tuple[list[float], list[float], list[float]]:
        """(gradient, update, parameter) norms of ``steps`` steps recorded as rows ``3k``
        (gradients), ``3k + 1`` (parameters before) and ``3k + 2`` (after): each update
        ``after - before`` is written over its ``before`` row, which nothing else reads,
        so every row measured is one a step reports. The tape is empty again after it."""
        rows, before, after = self._cached(("run", steps), lambda: (
            self.buf[:3 * steps], self.buf[1:3 * steps:3], self.buf[2:3 * steps:3]))
        torch.sub(after, before, out=before)
        self.rows = 0
        norms = self.norms(rows)
        return norms[0::3], norms[1::3], norms[2::3]

    def _cached(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """Views of ``buf`` made once per key (indexing a tensor from Python costs ~1 us a
        slice; a measuring takes a few, each step of sin_cos one measuring)."""
        views = self._cache.get(key)
        if views is None:
            if len(self._cache) >= 64:
                self._cache.clear()
            views = self._cache[key] = make()
        return views

    def norms(self, rows: torch.Tensor) -> list[float]:
        """Per row of ``rows`` (float64, this layout; squared in place): the global norm,
        each tensor's sum taken alone and the sums added in order as ``global_norm`` does."""
        squares = rows.mul_(rows)
        if torch.get_num_threads() > 1 and max(self.sizes) >= _GRAIN:
            sums = [[float(p.sum()) for p in r.split(self.sizes)] for r in squares]
            return [math.sqrt(_fold(row)) for row in sums]
        # one sum per run of equal-size tensors side by side: a (rows, tensors) matrix
        count = rows.shape[0]
        blocks = [b.sum(dim=2) for b in self._cached(("groups", rows.data_ptr(), count), lambda: [
            squares[:, a:a + k * n].view(count, k, n) for a, k, n in self.groups])]
        columns = (blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=1)).t().tolist()
        totals = [0.0 + s for s in columns[0]]  # _fold, a column at a time
        for column in columns[1:]:
            totals = [t + s for t, s in zip(totals, column, strict=True)]
        return [math.sqrt(t) for t in totals]


def _groups(sizes: list[int]) -> list[tuple[int, int, int]]:
    """Runs of consecutive tensors of one size, as (first column, count, size)."""
    groups: list[tuple[int, int, int]] = []
    start = 0
    for size in sizes:
        if groups and groups[-1][2] == size:
            first, count, _ = groups[-1]
            groups[-1] = (first, count + 1, size)
        else:
            groups.append((start, 1, size))
        start += size
    return groups


def _fold(sums: list[float]) -> float:
    """0 + s0 + s1 + ... in order: the float64 adds of ``global_norm``'s running total."""
    total = 0.0
    for s in sums:
        total += s
    return total


def _tape_layout(tensors: list[torch.Tensor]) -> tuple[Any, ...] | None:
    """The tape key of ``tensors``, or None where a tape would not give the bits of
    ``global_norm`` (not on the CPU, not float32/64, mixed dtypes, not contiguous)."""
    dtype = tensors[0].dtype if tensors else None
    if dtype is not torch.float32 and dtype is not torch.float64:
        return None
    shapes = []
    for t in tensors:
        if t.dtype is not dtype or not t.is_cpu or not t.is_contiguous():
            return None
        shapes.append(t.shape)
    return (dtype, *shapes)


class StepRecorder:
    """The observer's per-step recording: copies now (one ATen call per step and moment),
    float64 norms later for every recorded step at once (a few ATen calls per tensor per
    batch, where ``global_norm``/``distance`` take several per tensor per step). Values
    equal ``global_norm``/``distance`` bit for bit; tensors no tape can hold are measured
    at once with them.

    Per step: ``gradients(grads, params)``, optionally ``clipped(grads)``, ``step(params)``.
    ``full`` says the tapes must be measured (``results()``) before the next step.

    A run of plain steps (gradients and parameters in one tape, no clipping) is kept as
    three rows a step and nothing else (``_run``); any other step turns the run into the
    general per-step entries (``_leave_run``) and is recorded with them. A list of tensors
    seen before (the same objects: a port's parameters, gradients zeroed in place) finds
    its tape without its layout being checked again (the list is kept, so its tensors' ids
    are not reused while they key the cache; lists seen once are let go)."""

    def __init__(self) -> None:
        self._tapes: dict[tuple[Any, ...], _Tape] = {}
        #: ids -> [tape, the tensors, seen again since added]
        self._known: dict[tuple[int, ...], list[Any]] = {}
        #: the same for lists no tape row holds, for the current step only
        self._memo: dict[tuple[int, ...], list[Any]] = {}
        #: per step: [grad, post, before, after, param norm, update norm]; grad/post/before/
        #: after are tape rows (tape, i), or values measured at once (after: None)
        self._steps: list[list[Any]] = []
        self._current: list[Any] = []
        self._run_tape: _Tape | None = None
        self._run = 0  # plain steps in _run_tape: rows 3k, 3k + 1, 3k + 2
        self._half = False  # a plain step's gradients are recorded, its step() is not yet
        #: while a run goes on: [its tape, its parameters' ids, the parameters, the latest
        #: gradients' ids, those gradients] (held: an id stays theirs while it keys this)
        self._plan: list[Any] | None = None
        self.full = False

    def _tape_for(self, tensors: list[torch.Tensor]) -> _Tape | None:
        ids = tuple(map(id, tensors))
        known = self._known.get(ids) or self._memo.get(ids)
        if known is not None:
            known[2] = True
            tape: _Tape = known[0]
            return tape
        layout = _tape_layout(tensors)
        if layout is None:
            self._memo[ids] = [None, tuple(tensors), False]
            return None
        tape = self._tapes.get(layout)  # type: ignore[assignment]
        if tape is None:
            tape = self._tapes[layout] = _Tape(layout)
        if not tape.capacity:  # measured at once: known for this step only (memory)
            self._memo[ids] = [tape, tuple(tensors), False]
        else:
            if len(self._known) >= 8:  # gradients made anew each step: let them go
                kept = {k: v for k, v in self._known.items() if v[2]}
                self._known = kept if len(kept) < 8 else {}
                for entry in self._known.values():
                    entry[2] = False
            self._known[ids] = [tape, tuple(tensors), False]
        return tape

    def _record(self, *lists: list[torch.Tensor]) -> list[tuple[_Tape, int] | None]:
        """Copy each list into a row of its layout's tape, all with one ATen call."""
        handles: list[tuple[_Tape, int] | None] = []
        into: list[torch.Tensor] = []
        values: list[torch.Tensor] = []
        for tensors in lists:
            tape = self._tape_for(tensors)
            if tape is None or tape.rows == tape.capacity:
                handles.append(None)
                continue
            i = tape.rows
            tape.rows = i + 1
            handles.append((tape, i))
            into += tape.row(i)
            values += tensors
            if i + 5 > tape.capacity:  # no room for one more step (up to 4 rows)
                self.full = True
        if into:
            _copy(into, values)
        return handles

    def _leave_run(self) -> None:
        """The plain steps recorded so far (and a half step) as general entries."""
        tape = self._run_tape
        if tape is not None:
            self._steps.extend([(tape, 3 * k), None, (tape, 3 * k + 1), (tape, 3 * k + 2),
                                None, None] for k in range(self._run))
            if self._half:
                i = 3 * self._run
                self._current = [(tape, i), None, (tape, i + 1), None, None, None]
        self._run_tape, self._run, self._half, self._plan = None, 0, False, None

    def gradients(self, grads: list[torch.Tensor], params: list[torch.Tensor]) -> None:
        plan = self._plan
        if plan is not None and not self._half:  # the run goes on: its parameters, and
            tape = plan[0]                         # gradients of its tape
            i = tape.rows
            gids = tuple(map(id, grads))
            if i + 3 <= tape.capacity and tuple(map(id, params)) == plan[1] and (
                    gids == plan[3] or _tape_layout(grads) == tape.layout):
                if gids != plan[3]:  # held, so that their ids are not reused meanwhile;
                    self._known.pop(plan[3], None)  # the last ones are let go (a cache
                    plan[3], plan[4] = gids, tuple(grads)  # entry from the run's start)
                tape.rows = i + 2
                views = tape.spans[i]
                if views is None:
                    views = tape.spans[i] = tape.row(i) + tape.row(i + 1)
                enabled = torch._C.is_grad_enabled()  # _copy, inlined
                torch._C._set_grad_enabled(False)
                try:
                    torch._foreach_copy_(views, grads + params)
                finally:
                    torch._C._set_grad_enabled(enabled)
                self._half = True
                return
        self._memo = {}  # a new step: lists no tape holds are looked at once in it
        if plan is None and not self._steps:  # a run may start: one tape, nothing pending
            tape = self._tape_for(grads)
            if (tape is not None and tape is self._tape_for(params) and not self._run
                    and tape.rows == 0 and tape.capacity >= 3):
                self._plan = [tape, tuple(map(id, params)), tuple(params),
                              tuple(map(id, grads)), tuple(grads)]
                self._run_tape = tape
                self.gradients(grads, params)
                return
        self._leave_run()
        tape = self._tape_for(grads)
        if tape is not None and tape is self._tape_for(params) and tape.rows + 2 <= tape.capacity:
            i = tape.rows  # _record(grads, params) into one tape, in short
            tape.rows = i + 2
            _copy(tape.views(i, 2), grads + params)
            self.full = self.full or i + 6 > tape.capacity
            self._current = [(tape, i), None, (tape, i + 1), None, None, None]
            return
        grad, before = self._record(grads, params)
        self._current = [grad or global_norm(grads), None, before or snapshot(params),
                         None, None, None]

    def clipped(self, grads: list[torch.Tensor]) -> None:
        self._leave_run()
        post, = self._record(grads)
        self._current[1] = post or global_norm(grads)

    def step(self, params: list[torch.Tensor]) -> None:
        if self._half:
            plan = self._plan
            assert plan is not None
            run: _Tape = plan[0]
            if tuple(map(id, params)) == plan[1]:  # the run's parameters: its after row
                i = run.rows
                run.rows = i + 1
                views = run.spans[i]
                if views is None:
                    views = run.spans[i] = run.row(i)
                _copy(views, params)
                self._half = False
                self._run += 1
                if i + 4 > run.capacity:
                    self.full = True
                return
            self._leave_run()
        current, self._current = self._current, []
        before = current[2]
        tape: _Tape | None = before[0] if type(before) is tuple else None
        if tape is not None and tape.rows < tape.capacity and self._tape_for(params) is tape:
            i = tape.rows  # _record(params) beside the step's start, in short
            tape.rows = i + 1
            _copy(tape.views(i, 1), params)
            self.full = self.full or i + 5 > tape.capacity
            current[3] = (tape, i)
            self._steps.append(current)
            return
        (after,) = self._record(params)
        if after is not None and type(before) is tuple and before[0] is after[0]:
            current[3] = after
        else:
            current[4] = global_norm(params)
            current[5] = distance(
                before[0].row(before[1]) if type(before) is tuple else before, params)
        self._steps.append(current)

    def columns(self) -> tuple[list[float], list[float | None], list[float], list[float]]:
        """The gradient norms, clipped gradient norms (None: not clipped), parameter norms
        and update norms of every step recorded since the last call, in order; the tapes
        are empty again after it."""
        if self._run and not self._steps and not self._half:
            tape, steps = self._run_tape, self._run
            assert tape is not None
            self._run, self.full = 0, False  # the plan stays: the next run starts at row 0
            grad, update, param = tape.measure_run(steps)
            return grad, [None] * steps, param, update
        rows = self.results()
        if not rows:
            return [], [], [], []
        grad, post, param, update = map(list, zip(*rows, strict=True))
        return grad, post, param, update

    def results(self) -> list[tuple[float, float | None, float, float]]:
        """(grad norm, clipped grad norm or None, param norm, update norm) of every step
        recorded since the last call, in order; the tapes are empty again after it."""
        if self._run and not self._steps and not self._half:
            return list(zip(*self.columns(), strict=True))
        self._leave_run()
        steps, self._steps = self._steps, []
        norms: dict[_Tape, list[float]] = {}
        updates: dict[int, float] = {}
        for tape in self._tapes.values():
            if tape.rows:
                ks = [k for k, s in enumerate(steps) if s[3] is not None and s[3][0] is tape]
                values = norms[tape] = tape.measure([steps[k][3][1] for k in ks],
                                                    [steps[k][2][1] for k in ks])
                updates.update(zip(ks, values[len(values) - len(ks):], strict=True))
        self.full = False

        def value(v: Any) -> Any:  # a tape row's norm, or a value measured at once
            return norms[v[0]][v[1]] if type(v) is tuple else v

        return [(value(g), value(p), value(a) if a is not None else pn,
                 updates[k] if a is not None else un)
                for k, (g, p, _, a, pn, un) in enumerate(steps)]



def _copy(into: list[torch.Tensor], values: list[torch.Tensor]) -> None:
    """``into[k].copy_(values[k])`` for every k in one ATen call, recording no graph
    (``torch.no_grad()``'s switch without its Python layers)."""
    enabled = torch._C.is_grad_enabled()
    torch._C._set_grad_enabled(False)
    try:
        torch._foreach_copy_(into, values)
    finally:
        torch._C._set_grad_enabled(enabled)


def _rows(indices: list[int]) -> slice | list[int]:
    """``indices`` as a slice where they step evenly (a view, no index tensor)."""
    first, step = indices[0], (indices[1] - indices[0]) if len(indices) > 1 else 1
    if step > 0 and indices == list(range(first, first + step * len(indices), step)):
        return slice(first, first + step * len(indices), step)
    return indices


# -- torch.optim.Adam's state <-> checkpoint slots (the Adam tutorials' ports share it) ----
_ADAM_SLOTS = ("exp_avg", "exp_avg_sq")


def adam_state(optimizer: torch.optim.Adam, tensors: Mapping[str, torch.Tensor], port: str
               ) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """``optimizer.state`` as {slot: {storage path: tensor}} and {"step": int}. Before the
    first step torch holds no state: zero moments and step 0 say the same."""
    slots: dict[str, dict[str, torch.Tensor]] = {slot: {} for slot in _ADAM_SLOTS}
    steps = {}
    for path, param in tensors.items():
        state = optimizer.state.get(param, {})  # .get: reading must not add an entry
        steps[path] = int(state["step"].item()) if state else 0
        for slot in _ADAM_SLOTS:
            slots[slot][path] = state[slot] if state else torch.zeros_like(param)
    return slots, {"step": one_adam_step(steps, port)}


def load_adam_state(optimizer: torch.optim.Adam, tensors: Mapping[str, torch.Tensor],
                    slots: Mapping[str, Mapping[str, np.ndarray]], step: int) -> None:
    """Adam's state after ``step`` steps, built as ``Adam._init_group`` (torch 2.13) builds
    it, so the next ``step()`` computes the same bits as the uninterrupted run."""
    optimizer.state.clear()  # step 0: torch holds no state before the first step
    if step == 0:
        return
    groups = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    for path, param in tensors.items():
        group = groups[id(param)]
        # `step` is a CPU scalar of the default float dtype, on the parameter's device (and
        # float32) only when capturable or fused: the bias corrections read it as a float
        on_device = bool(group["capturable"] or group["fused"])
        dtype = (torch.float64 if torch.get_default_dtype() == torch.float64 and not
                 group["fused"] else torch.float32)
        optimizer.state[param] = {
            "step": torch.tensor(float(step), dtype=dtype,
                                 device=param.device if on_device else "cpu"),
            **{slot: torch.tensor(np.asarray(slots[slot][path]), dtype=param.dtype,
                                  device=param.device) for slot in _ADAM_SLOTS}}


# -- generator state for checkpoints (dropout and any other draw inside training) ---------
def rng_state() -> dict[str, Any]:
    """torch's CPU generator and, once CUDA is initialised, every CUDA device's, as JSON."""
    from harness.interface._checkpoint import bytes_to_json

    state: dict[str, Any] = {"cpu": bytes_to_json(torch.get_rng_state().numpy().tobytes())}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [bytes_to_json(s.numpy().tobytes())
                         for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    from harness.interface._checkpoint import bytes_from_json

    def as_tensor(text: str) -> torch.Tensor:
        return torch.from_numpy(np.frombuffer(bytes_from_json(text), np.uint8).copy())

    torch.set_rng_state(as_tensor(state["cpu"]))
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([as_tensor(s) for s in state["cuda"]])


def device_kind(name: str) -> str:
    """What decides the bits of ``name``'s kernels, as a golden folder suffix: ``cpu``, or
    ``cuda-sm<major><minor>`` from the GPU's compute capability (``cuda-sm90``: H100)."""
    dev = device(name)
    if dev.type == "cpu":
        return "cpu"
    major, minor = torch.cuda.get_device_capability(dev)
    return f"cuda-sm{major}{minor}"
