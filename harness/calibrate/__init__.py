"""Measure what each golden tolerance must absorb (rounding noise) and must catch (a small
learning-rate change), for a profile's run and for the tutorial golden's checkpoint
segments, and propose tolerances as Python source ready to paste into a spec.

Cross-CPU differences come from kernels rounding differently; their effect is modelled by
moving every weight one ulp (the initial weights of a run, the restored weights of a
segment), which seeds the same kind of last-bit difference and lets training amplify it.
The signal is the same run with the learning rate (the config field ``lr_field``) scaled by
``1 + lr_change``. With kernel variants, the run is also trained once per variant of the
port's framework that this CPU can be forced into (``harness.provenance.KERNEL_VARIANTS``),
each in a child process, and its difference counts as noise beside the nudge's. Every
gated quantity is measured: the tutorial's figures, the epoch observables and the outputs
of a run; per epoch and per step for a segment.
"""

from harness.calibrate._measure import (
    Calibration,
    Quantity,
    SegmentCalibration,
    calibrate,
    calibrate_segments,
    calibrate_stored_segments,
    field_names,
    measure_segments,
    nudge,
    with_field,
)
from harness.calibrate._text import entry
from harness.calibrate._variants import run_variant, variant_env, variants_for

__all__ = [
    "Calibration", "Quantity", "SegmentCalibration", "calibrate", "calibrate_segments",
    "calibrate_stored_segments", "entry", "field_names", "measure_segments", "nudge",
    "run_variant", "variant_env", "variants_for", "with_field",
]
