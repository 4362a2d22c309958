"""Calibration as text: tolerances described, and the paste-ready ``Tolerance`` entries
and ``SegmentPlan`` a spec can take as they are."""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from harness.interface import Tolerance

if TYPE_CHECKING:
    from harness.calibrate._measure import Quantity

def _describe(tol: Tolerance | None) -> str:
    if tol is None:
        return "-"
    parts = [f"rtol {_literal(tol.rtol) if tol.rtol else 0}"] if tol.rtol or not tol.atol else []
    parts += [f"atol {_literal(tol.atol)}"] if tol.atol else []
    parts += [f"horizon {tol.horizon}"] if tol.horizon is not None else []
    return ", ".join(parts)


def _sci(x: float) -> str:
    """``3.1e-5`` (the spec's style), ``0`` or ``inf``."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    mant, exp = f"{x:.1e}".split("e")
    return f"{mant}e{int(exp)}"


def _literal(value: float) -> str:
    """A short float literal: ``3e-4``, ``4.4e-5``."""
    mant, exp = f"{value:.1e}".split("e")
    return f"{mant.removesuffix('.0')}e{int(exp)}"


def _str(text: str) -> str:
    """A double-quoted Python string literal (the specs' style)."""
    return json.dumps(text)


def _today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def _pct(change: float) -> str:
    return f"{change * 100:.3g} %"


def _signal(lr_field: str, change: float) -> str:
    return f"{lr_field} +{_pct(change)}"


def _between(noise: float, signal: float) -> float | None:
    """A round tolerance about 10x the noise, else the geometric mean, strictly between
    noise and signal; None where none is."""
    value = float(f"{10 * noise:.1g}")
    if value >= signal:
        value = float(f"{math.sqrt(noise * signal):.2g}")
    return value if noise < value < signal else None


def entry(q: Quantity, signal_name: str, where: str) -> str:
    """One proposed ``"key": Tolerance(...)`` entry, or a comment where no tolerance
    separates the noise from the signal."""
    col = 1 if q.absolute else 0
    noise, signal = q.noise[col], q.signal[col]
    abs_ = "abs " if col else ""
    label = f"{abs_}noise {_sci(noise)}, {signal_name} signal {_sci(signal)}"
    worst = q.variant_noise
    if worst is not None:  # the kernel variants' noise beside the 1-ulp one
        which = f" ({worst[0]})" if worst[1][col] else ""
        label = (f"noise across kernel variants: {abs_}{_sci(worst[1][col])}{which}; "
                 f"1-ulp noise: {_sci(noise)}; signal of {signal_name}: {_sci(signal)}")
        noise = max(noise, worst[1][col])
    horizon = (f", horizon={q.tolerance.horizon}" if q.tolerance is not None
               and q.tolerance.horizon is not None else "")
    ulp = "" if worst is not None else "1-ulp "
    if q.noise == (0.0, 0.0) and all(v[1:3] == (0.0, 0.0) for v in q.variants):
        why = f"exact: {ulp}{label}; {where}"
        return f"{_str(q.key)}: Tolerance(rtol=0.0{horizon}, why={_str(why)}),"
    value = _between(noise, signal)
    if value is None:
        return f"# {q.key}: {label}: no tolerance separates them ({where})"
    size = f"rtol=0.0, atol={_literal(value)}" if col else f"rtol={_literal(value)}"
    thin = f" (thin: {value / noise:.1f}x the noise)" if value < 3 * noise else ""
    why = f"{ulp}{label}{thin}; {where}"
    return f"{_str(q.key)}: Tolerance({size}{horizon}, why={_str(why)}),"


def _table(quantities: Iterable[Quantity], signal_name: str, where: str, indent: str) -> str:
    rows = "".join(f"{indent}    {entry(q, signal_name, where)}\n" for q in quantities)
    return "{\n" + rows + indent + "}"
