"""All comparison math: pure functions over numpy arrays and records, returning data (no
I/O, no text). A run against its golden per epoch, in its figures, observables and outputs
(``_trajectory``); a checkpoint segment's replay per epoch and per step, and how far any
quantity is from its tolerance (``_segments``); a run against its seed envelope's band
(``_envelope``) and the new seeds' outcomes by a rank test (``_outcomes``)."""

from __future__ import annotations

from harness.compare._envelope import (
    BAND_STDS,
    OUTCOMES,
    EnvelopeVerdict,
    MetricVerdict,
    band,
    classify,
    outcomes_of,
)
from harness.compare._outcomes import (
    ALPHA,
    POWER,
    STAT_TEST,
    OutcomeTest,
    OutcomeVerdict,
    compare_outcomes,
    detectable_shift,
    rank_test_p,
)
from harness.compare._segments import (
    Divergence,
    Worst,
    divergence_ratio,
    first_divergence,
    max_ratio,
    max_rel,
    tolerance_ratio,
    worst_column,
    worst_of,
    worst_output,
    worst_ratio,
)
from harness.compare._trajectory import (
    Columns,
    Comparison,
    FirstDivergence,
    MetricComparison,
    OutputComparison,
    Path,
    compare_metric,
    compare_output,
    compare_outputs,
    compare_trajectories,
    first_bit_difference,
    format_pair,
    gated_observables,
    is_number,
    leaves,
)
from harness.interface import relative_error, within  # the primitives, from the interface

__all__ = [
    "relative_error", "within",
    "first_bit_difference",
    "is_number", "leaves",
    "ALPHA", "BAND_STDS", "Columns", "Comparison", "Divergence", "EnvelopeVerdict",
    "FirstDivergence", "MetricComparison", "MetricVerdict", "OUTCOMES", "OutcomeTest",
    "OutcomeVerdict", "OutputComparison", "POWER", "Path", "STAT_TEST", "Worst", "band",
    "classify", "compare_metric", "compare_outcomes", "compare_output", "compare_outputs",
    "compare_trajectories", "detectable_shift", "divergence_ratio", "first_divergence",
    "format_pair", "gated_observables", "max_ratio", "max_rel", "outcomes_of", "rank_test_p",
    "tolerance_ratio", "worst_column", "worst_of", "worst_output", "worst_ratio",
]
