"""Former home of the segment driver and its comparison math, kept for imports written
against it: the driver is ``harness.runner``'s, the math ``harness.compare``'s."""

from harness.compare import Columns, Divergence, first_divergence, max_rel
from harness.runner import (
    build_port,
    prove_restore,
    record_segments,
    run_segment,
    run_segments,
    segment_starts,
    with_lr,
)

__all__ = ["Columns", "Divergence", "build_port", "first_divergence", "max_rel",
           "prove_restore", "record_segments", "run_segment", "run_segments",
           "segment_starts", "with_lr"]
