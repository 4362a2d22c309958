"""Calibration runs and measurements: each gated quantity's 1-ulp noise and its
learning-rate signal, for a profile's run and for the stored checkpoint segments."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.calibrate._text import _describe, _pct, _sci, _signal, _str, _table, _today
from harness.calibrate._variants import run_variant, took_effect
from harness.compare import compare_metric, is_number, leaves
from harness.errors import UsageError
from harness.interface import Params, Segment, SegmentPlan, Tolerance, Trajectory
from harness.interface._observe import EPOCH_OBSERVABLES, STEP_OBSERVABLES
from harness.interface._tolerance import (
    DEFAULT,
    find_tolerance,
    observable_tolerance,
    output_tolerance,
    relative_error,
)
from harness.registry import Registry, default_registry
from harness.runner import ProgressFn, run_port

Columns = dict[str, np.ndarray]
#: Stands in for "no tolerance" where a column is measured but not gated.
_UNGATED = Tolerance(rtol=0.0)


@dataclass(frozen=True)
class Quantity:
    """One quantity's noise and signal, as (relative, absolute) differences from the
    reference, and how the spec's tolerance for it fares. For a segment calibration
    ``noise`` is the largest over every segment and ``signal`` the smallest segment's
    largest (a tolerance below it catches the lr change in every segment); ``caught``
    counts the runs (1 for a prefix, else segments) whose signal leaves the tolerance."""

    key: str  # the tolerance table's key ("loss", "grad_norm", "output:predictions")
    kind: str  # "figure", "observable", "output", "epoch" or "step"
    noise: tuple[float, float]
    signal: tuple[float, float]
    tolerance: Tolerance | None  # the spec's (None: not gated)
    noise_passes: bool
    caught: int
    runs: int = 1
    #: per kernel variant trained (``calibrate(variants=...)``): (name, relative and
    #: absolute difference from the reference, within the spec's tolerance)
    variants: tuple[tuple[str, float, float, bool], ...] = ()

    @property
    def variant_noise(self) -> tuple[str, tuple[float, float]] | None:
        """The kernel variant that moves it most (in the column its tolerance uses), and
        its (relative, absolute) difference; None where no variant was trained."""
        if not self.variants:
            return None
        col = 1 if self.absolute else 0
        name, rel, ab, _ = max(self.variants, key=lambda v: (v[1 + col], v[2 - col]))
        return name, (rel, ab)

    @property
    def failing_variant(self) -> str | None:
        """The variant with the largest noise among those the spec's tolerance fails."""
        failed = [v for v in self.variants if not v[3]]
        col = 1 if self.absolute else 0
        return max(failed, key=lambda v: v[1 + col])[0] if failed else None

    @property
    def exact(self) -> bool:
        """No noise at all, and the spec wants none (rtol and atol 0)."""
        tol = self.tolerance
        return (self.noise == (0.0, 0.0) and tol is not None and tol.rtol == 0
                and tol.atol == 0 and all(v[1:3] == (0.0, 0.0) for v in self.variants))

    @property
    def verdict(self) -> str:
        if self.tolerance is None:
            return "not gated"
        if self.exact:
            return "exact"
        if not self.noise_passes:
            return "TOO TIGHT: the noise fails it"
        if self.failing_variant is not None:
            return f"TOO TIGHT: {self.failing_variant} fails it"
        if self.signal == (0.0, 0.0) and self.caught == 0:
            return "unmoved by the lr change"
        if self.caught == 0:
            return "TOO LOOSE: misses the signal"
        return "ok"

    def row(self) -> tuple[str, ...]:
        """Its table row: name, noise, the variants' largest noise (where trained), signal,
        the spec's tolerance, caught, verdict."""
        col = 1 if self.absolute else 0
        name = self.key if self.kind in ("figure", "observable", "output") else (
            f"{self.kind} {self.key}")
        unit = " abs" if col else ""
        worst = self.variant_noise
        across = () if worst is None else (_sci(worst[1][col]) + unit + (
            f" ({worst[0]})" if worst[1][col] else ""),)
        return (name, _sci(self.noise[col]) + unit, *across, _sci(self.signal[col]) + unit,
                _describe(self.tolerance), f"{self.caught}/{self.runs}", self.verdict)

    @property
    def absolute(self) -> bool:
        """Whether a tolerance for it is absolute: the spec's is atol-only, or a reference
        value of 0 makes the relative difference meaningless."""
        tol = self.tolerance
        if tol is not None and tol.rtol == 0 and tol.atol > 0:
            return True
        return not all(math.isfinite(v) for v in (self.noise[0], self.signal[0],
                                                   *(v[1] for v in self.variants)))


@dataclass(frozen=True)
class Calibration:
    """Every gated quantity of one profile's run: noise and signal against the spec."""

    port_id: str
    profile: str
    lr_field: str
    lr_change: float
    quantities: tuple[Quantity, ...]
    date: str
    #: the kernel variants trained (each in a child process), and those of them whose
    #: run's provenance shows they did not take effect on this machine
    variants: tuple[str, ...] = ()
    inert: tuple[str, ...] = ()

    def quantity(self, key: str) -> Quantity:
        return next(q for q in self.quantities if q.key == key)

    def summary(self) -> str:
        gated = [q for q in self.quantities if q.tolerance is not None]
        bad = [q.key for q in gated if q.verdict not in ("ok", "exact")]
        noise = "the noise (1 ulp and kernel variants)" if self.variants else "the noise"
        text = (f"{len(gated)} of {len(self.quantities)} quantities gated at {self.profile}; "
                + (f"tolerance to revisit: {', '.join(bad)}" if bad else
                   f"each absorbs {noise} and catches the signal, or is exact"))
        if self.variants:
            text += f"\nkernel variants trained: {', '.join(self.variants)}"
        if self.inert:
            text += (f"; not in effect on this machine (its run shows the default kernels): "
                     f"{', '.join(self.inert)}")
        return text

    def block(self) -> str:
        """The proposed tolerance table, Python source that evaluates to a dict of
        ``Tolerance``."""
        where = f"{self.port_id} {self.profile}, {self.date}"
        noise = "kernel variants' and 1-ulp noise" if self.variants else "1-ulp noise"
        flag = " --variants" if self.variants else ""
        head = (f"# rnn-harness calibrate {self.port_id} --profile {self.profile}{flag}: "
                f"{noise} vs {self.lr_field} +{_pct(self.lr_change)} ({self.date}); paste "
                f"into the spec's tolerances\n# (or its profile_tolerances"
                f"[{_str(self.profile)}])\n")
        return head + _table(self.quantities, _signal(self.lr_field, self.lr_change), where,
                             indent="")


@dataclass(frozen=True)
class SegmentCalibration:
    """Every segment quantity (per epoch and per step) over the replayed segments.
    ``caught``: segments where some gated quantity's signal leaves the plan's tolerance
    (what the gate needs in each); ``noisy``: those where some noise does; ``as_specified``:
    segments whose plain replay passes the golden continuation, ``identical`` of them bit
    for bit."""

    port_id: str
    plan: SegmentPlan
    lr_field: str
    lr_change: float
    segments: int
    caught: int
    noisy: int
    as_specified: int
    identical: int
    quantities: tuple[Quantity, ...]
    date: str

    def quantity(self, key: str, kind: str) -> Quantity:
        return next(q for q in self.quantities if q.key == key and q.kind == kind)

    def summary(self) -> str:
        n = self.segments
        return (f"{n} stored segments of {self.plan.length} epochs"
                + (f" (first {self.plan.step_limit_for(self.port_id)} steps each)"
                   if self.plan.step_limit_for(self.port_id) is not None else "")
                + f": replayed as specified {self.as_specified}/{n} pass the golden "
                f"({self.identical} bit for bit); nudged by 1 ulp {n - self.noisy}/{n} pass; "
                f"{self.lr_field} +{_pct(self.lr_change)} caught in {self.caught}/{n}")

    def block(self) -> str:
        """The proposed ``SegmentPlan``, Python source (needs ``SegmentPlan`` and
        ``Tolerance`` in scope)."""
        plan, where = self.plan, f"{self.port_id}, {self.date}"
        limits = "".join(f"    {name}={getattr(plan, name)!r},\n"
                         for name in ("step_limit", "port_step_limits")
                         if getattr(plan, name) != getattr(_NO_LIMITS, name))
        why = (f"1-ulp noise vs {self.lr_field} +{_pct(self.lr_change)} over "
               f"{self.segments} segments (rnn-harness calibrate --segments), {where}")
        parts = [f"# rnn-harness calibrate {self.port_id} --segments ({self.date}); paste "
                 "as the spec's SegmentPlan\n",
                 f"SegmentPlan(\n    spacing={plan.spacing}, length={plan.length},\n"]
        for kind in ("epoch", "step"):
            rows = [q for q in self.quantities if q.kind == kind]
            if rows:
                parts.append(f"    {kind}_tolerances=" + _table(
                    rows, _signal(self.lr_field, self.lr_change), where, "    ") + ",\n")
        return "".join(parts) + limits + f"    why={_str(why)},\n)"


_NO_LIMITS = SegmentPlan(1, 1, {}, {})


# ---------------------------------------------------------------- the lr knob and the nudge
def field_names(config: Any) -> list[str]:
    """The fields of a spec config (a dataclass)."""
    if not dataclasses.is_dataclass(config):
        return []
    return [f.name for f in dataclasses.fields(config)]


def with_field(config: Any, name: str, factor: float) -> Any:
    """``config`` with its numeric field ``name`` scaled by ``factor`` (the calibration
    signal scales the learning rate). A config without that field is a ``UsageError``
    naming the fields it has."""
    names = field_names(config)
    value: Any = getattr(config, name, None) if name in names else None
    if not is_number(value):
        guess = [n for n in names if "lr" in n.lower() or "learning" in n.lower()]
        what = "has no such field" if name not in names else "holds no number there"
        raise UsageError(
            f"calibrate raises the learning rate through the config field {name!r}, but "
            f"{type(config).__name__} {what}.",
            context={"config": type(config).__name__,
                     "its fields": ", ".join(names) or "(not a dataclass)",
                     "--lr-field": name},
            fix="name the field that holds the learning rate: --lr-field NAME"
            + (f" (e.g. --lr-field {guess[0]})." if guess else "."))
    return dataclasses.replace(config, **{name: value * factor})


def nudge(params: Params, ulps: int = 1) -> Params:
    """Every parameter moved ``ulps`` ulps toward +inf (in its own dtype)."""
    out = {}
    for name, value in params.items():
        v = np.asarray(value)
        for _ in range(ulps):
            v = np.nextafter(v, np.inf, dtype=v.dtype)
        out[name] = v
    return out


# ---------------------------------------------------------------- a profile's run
def _seeded_params(port_id: str, config: Any, seed: int, device: str, registry: Registry
                   ) -> Params:
    port = registry.load(port_id)
    port.build(config, seed, device)
    return port.get_params()


def calibrate(port_id: str, profile: str, *, lr_change: float = 0.001, lr_field: str = "lr",
              device: str = "cpu", registry: Registry | None = None,
              progress: ProgressFn | None = None,
              variants: Mapping[str, Mapping[str, str]] | None = None) -> Calibration:
    """Train ``port_id``'s ``profile`` run as specified, from 1-ulp-nudged initial weights,
    and with ``lr_field`` scaled by ``1 + lr_change``; measure every figure, epoch
    observable and output of the nudged and the scaled run against the first.

    ``variants`` (name -> environment, e.g. ``variants_for(framework)``): also train the
    run as specified once per kernel variant, each in a child process under its
    environment, and measure each against the first as the noise is measured."""
    registry = registry or default_registry()
    spec = registry.spec(registry.get(port_id).tutorial)
    config = spec.profile(profile)
    faster_config = with_field(config, lr_field, 1 + lr_change)  # refused before training
    base = run_port(port_id, profile, device=device, registry=registry, progress=progress)
    start = nudge(_seeded_params(port_id, config, spec.default_seed, device, registry))
    nudged = run_port(port_id, profile, device=device, registry=registry, progress=progress,
                      params=start)
    faster = run_port(port_id, profile, device=device, registry=registry, progress=progress,
                      config=faster_config)

    table = spec.tolerances_for(profile)
    columns = [(m, "figure", find_tolerance(table, m, DEFAULT)) for m in spec.metrics]
    columns += [(m, "observable", observable_tolerance(table, m))
                for m in EPOCH_OBSERVABLES if m in base.metrics]
    quantities = [_column(key, kind, tol, [(nudged.metrics, faster.metrics, base.metrics)])
                  for key, kind, tol in columns]
    quantities += [_output(name, output_tolerance(table, name), nudged, faster, base)
                   for name in base.outputs]
    trained = {name: run_variant(port_id, profile, name, env, device=device,
                                 registry=registry) for name, env in (variants or {}).items()}
    quantities = [_with_variants(q, trained, base) for q in quantities]
    inert = tuple(name for name, run in trained.items()
                  if took_effect(name, run.meta.get("provenance") or {}) is False)
    return Calibration(port_id, profile, lr_field, lr_change, tuple(quantities), _today(),
                       tuple(trained), inert)


def _with_variants(q: Quantity, trained: Mapping[str, Trajectory], base: Trajectory
                   ) -> Quantity:
    """``q`` with each variant run's difference from ``base``, as its noise is measured."""
    if not trained:
        return q
    rows = []
    for name, run in trained.items():
        if q.kind == "output":
            name_ = q.key.removeprefix("output:")
            diff = _output_diff(run.outputs.get(name_), base.outputs[name_], q.tolerance)
        else:
            diff = _against(q.key, run.metrics, base.metrics, q.tolerance)
        rows.append((name, *diff))
    return dataclasses.replace(q, variants=tuple(rows))


def _column(key: str, kind: str, tol: Tolerance | None,
            runs: Sequence[tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray],
                                 Mapping[str, np.ndarray]]]) -> Quantity:
    """One column over ``runs`` of (noise run, signal run, reference), compared as the gate
    compares it (``compare_metric``; a shorter run fails)."""
    noise = [_against(key, noisy, ref, tol) for noisy, _, ref in runs]
    signal = [_against(key, faster, ref, tol) for _, faster, ref in runs]
    return Quantity(key, kind, (max(n[0] for n in noise), max(n[1] for n in noise)),
                    (min(s[0] for s in signal), min(s[1] for s in signal)), tol,
                    all(n[2] for n in noise), sum(not s[2] for s in signal), len(runs))


def _against(key: str, obtained: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray],
             tol: Tolerance | None) -> tuple[float, float, bool]:
    a = obtained.get(key, np.array([]))
    c = compare_metric(key, a, expected[key], tol or _UNGATED)
    return c.max_rel_error, c.max_abs_error, c.passed and len(a) >= len(expected[key])


def _output(name: str, tol: Tolerance | None, nudged: Trajectory, faster: Trajectory,
            base: Trajectory) -> Quantity:
    if tol is not None and tol.gated(base.num_epochs) != base.num_epochs:
        tol = None  # past its horizon the gate does not compare this output: not gated
    diffs = [_output_diff(run.outputs.get(name), base.outputs[name], tol)
             for run in (nudged, faster)]
    (n_rel, n_abs, n_ok), (s_rel, s_abs, s_ok) = diffs
    return Quantity(f"output:{name}", "output", (n_rel, n_abs), (s_rel, s_abs), tol, n_ok,
                    int(not s_ok))


def _output_diff(obtained: Any, expected: Any, tol: Tolerance | None
                 ) -> tuple[float, float, bool]:
    """Largest relative and absolute difference over an output's numbers, and whether
    every leaf is within ``tol`` (texts and other values: equal)."""
    rel = ab = 0.0
    ok = True
    for _, a, b in leaves(obtained, expected):
        if is_number(a) and is_number(b):
            pair = np.array([a], float), np.array([b], float)
            rel = max(rel, float(relative_error(*pair)[0]))
            ab = max(ab, abs(float(a) - float(b)))
            ok = ok and bool(compare_metric("", *pair, tol or _UNGATED).passed)
        elif a != b:
            rel, ab, ok = math.inf, math.inf, False
    return rel, ab, ok


# ---------------------------------------------------------------- checkpoint segments
def calibrate_stored_segments(req: Any, *, lr_change: float = 0.001, lr_field: str = "lr",
                              progress: ProgressFn | None = None) -> SegmentCalibration:
    """Replay every checkpoint segment stored with ``req``'s tutorial golden three times:
    as specified, with its restored weights nudged by one ulp, and with ``lr_field`` scaled
    by ``1 + lr_change``; each compared with the golden continuation per epoch and per step
    under the spec's ``SegmentPlan``, as the gate compares it."""
    from harness.check import SEGMENT_PROFILE, golden_seed, load_golden, stored_segments

    plan = req.spec.segments
    if plan is None:
        raise UsageError(f"Tutorial {req.spec.name} plans no checkpoint segments, so there "
                         "are none to calibrate.", context={"port": req.port_id},
                         fix="calibrate its prefix (without --segments), or add a "
                         "SegmentPlan to the spec (segments=...) and record them.",
                         tutorial=req.spec.name, port=req.port_id)
    treq = dataclasses.replace(req, profile=SEGMENT_PROFILE, against=None)
    config = req.spec.profile(SEGMENT_PROFILE)
    with_field(config, lr_field, 1 + lr_change)  # refused before anything is read
    seed = golden_seed(load_golden(treq), treq)
    segments = stored_segments(req)
    if not segments:
        raise UsageError(f"{req.port_id} has no checkpoint segments recorded.",
                         context={"looked in": treq.golden_path / "segments"},
                         fix=f"record them first: `rnn-harness record {req.port_id} "
                         "--segments-only`.", tutorial=req.spec.name, port=req.port_id)
    return measure_segments(req.port_id, config, seed, segments, req.spec.metrics, plan,
                            lr_change=lr_change, lr_field=lr_field, device=req.device,
                            registry=req.registry, progress=progress)


def calibrate_segments(port_id: str, *, spacing: int, length: int, lr_change: float = 0.001,
                       lr_field: str = "lr", step_limit: int | None = None,
                       registry: Registry | None = None) -> SegmentCalibration:
    """Record the tutorial run's segments in memory at ``spacing``/``length`` (to choose a
    plan before any are stored), then measure them as ``calibrate_stored_segments`` does,
    against the spec's plan tolerances where it has a plan."""
    from harness.runner import record_segments, segment_starts

    registry = registry or default_registry()
    spec = registry.spec(registry.get(port_id).tutorial)
    config = spec.profile("tutorial")
    with_field(config, lr_field, 1 + lr_change)
    _, segments = record_segments(port_id, config, spec.default_seed,
                                  segment_starts(config.epochs, spacing, length), length,
                                  registry=registry, step_limit=step_limit)
    plan = dataclasses.replace(spec.segments or _NO_LIMITS, spacing=spacing, length=length,
                               step_limit=step_limit, port_step_limits={})
    return measure_segments(port_id, config, spec.default_seed, segments, spec.metrics, plan,
                            lr_change=lr_change, lr_field=lr_field, registry=registry)


def measure_segments(port_id: str, config: Any, seed: int, segments: Sequence[Segment],
                     metrics: Sequence[str], plan: SegmentPlan, *, lr_change: float,
                     lr_field: str, device: str = "cpu", registry: Registry | None = None,
                     progress: ProgressFn | None = None) -> SegmentCalibration:
    """Replay ``segments`` as specified, nudged and with the lr scaled; measure every
    epoch and step quantity against the stored continuations under ``plan``."""
    from harness.runner import run_segments

    limit = plan.step_limit_for(port_id)
    done, total = [0], 3 * sum(s.length for s in segments)

    def replay(cfg: Any, params: Any = None, after_restore: Any = None
               ) -> list[tuple[Columns, Columns]]:
        runs = []
        for segment, run in zip(segments, run_segments(
                port_id, cfg, seed, segments, device=device, registry=registry, params=params,
                step_limit=limit, after_restore=after_restore), strict=True):
            runs.append(run)
            done[0] += segment.length
            if progress is not None:
                progress(done[0], total, {})
        return runs

    plain, noisy = replay(config), replay(config, nudge)
    def scaled_lr(loop: Any) -> None:
        # a schedule that anneals keeps its current lr in Loop.extra, restored with each
        # checkpoint: the config's lr never reaches a segment, so scale the restored one
        if isinstance(loop.extra.get(lr_field), (int, float)):
            loop.extra[lr_field] = loop.extra[lr_field] * (1 + lr_change)

    faster = replay(with_field(config, lr_field, 1 + lr_change), after_restore=scaled_lr)
    first = segments[0]
    epoch_names = [] if limit is not None else [
        *metrics, *(o for o in EPOCH_OBSERVABLES if o in first.epochs)]
    quantities = [
        _column(name, kind, find_tolerance(table, name, DEFAULT),
                [(n[side], f[side], s.steps if side else s.epochs)
                 for n, f, s in zip(noisy, faster, segments, strict=True)])
        for kind, side, table, names in (
            ("epoch", 0, plan.epoch_tolerances, epoch_names),
            ("step", 1, plan.step_tolerances, [q for q in STEP_OBSERVABLES if q in first.steps]))
        for name in names]
    gated = [q for q in quantities if q.tolerance is not None]

    def passing(runs: list[tuple[Columns, Columns]]) -> int:
        return sum(_segment_passes(r, s, gated) for r, s in zip(runs, segments, strict=True))

    return SegmentCalibration(
        port_id, plan, lr_field, lr_change, len(segments),
        caught=len(segments) - passing(faster), noisy=len(segments) - passing(noisy),
        as_specified=passing(plain),
        identical=sum(_identical(r, s) for r, s in zip(plain, segments, strict=True)),
        quantities=tuple(quantities), date=_today())


def _segment_passes(run: tuple[Columns, Columns], segment: Segment, gated: Sequence[Quantity]
                    ) -> bool:
    """Whether a replay passes the gate: every gated quantity within its tolerance."""
    for q in gated:
        obtained, expected = (run[1], segment.steps) if q.kind == "step" else (run[0],
                                                                                segment.epochs)
        if not _against(q.key, obtained, expected, q.tolerance)[2]:
            return False
    return True


def _identical(run: tuple[Columns, Columns], segment: Segment) -> bool:
    return all(np.array_equal(got.get(k, np.array([])), v, equal_nan=True)
               for got, want in ((run[0], segment.epochs), (run[1], segment.steps))
               for k, v in want.items())


# ---------------------------------------------------------------- the paste-ready text
