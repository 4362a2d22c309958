"""Build the report page shown in docs/report-failures.png: real ports with injected faults.

elman_sine/mxnet trains with its learning rate x1.01 (a regression from epoch 0, and
outside the cross-framework tolerance); sin_cos/mxnet's loss turns NaN at epoch 12 (a
divergence). Run from the repository root in an environment with torch, MXNet and the
report extra:  python docs/make_failure_page.py OUT_DIR
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.golden import GoldenStore, default_golden_dir
from harness.registry import PortEntry, Registry
from harness.report import collect_runs, report_files
from reference_impls.elman_sine.mxnet_port import ElmanSineMXNet
from reference_impls.sin_cos.mxnet_port import SinCosMXNet


class ElmanSineLrChanged(ElmanSineMXNet):
    """elman_sine/mxnet with a 1 % larger learning rate."""

    def build(self, config: Any, seed: int, device: str, data: Any) -> Any:
        return super().build(replace(config, lr=config.lr * 1.01), seed, device, data)


class SinCosNaN(SinCosMXNet):
    """sin_cos/mxnet whose loss is NaN from its 13th step (epoch 12) on."""

    steps = 0

    # an instance method over the port's staticmethod: the fault counts this run's steps
    def loss_value(self, loss: Any) -> float:  # type: ignore[override]
        self.steps += 1
        return float("nan") if self.steps > 12 else SinCosMXNet.loss_value(loss)


def main(out: str) -> Path:
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    registry = Registry(
        [PortEntry("sin_cos", "torch", "", "reference_impls.sin_cos.torch_port:SinCosTorch"),
         PortEntry("sin_cos", "mxnet", "", "make_failure_page:SinCosNaN"),
         PortEntry("elman_sine", "torch", "",
                   "reference_impls.elman_sine.torch_port:ElmanSineTorch"),
         PortEntry("elman_sine", "mxnet", "", "make_failure_page:ElmanSineLrChanged")],
        {"elman_sine": "reference_impls.elman_sine.spec:SPEC",
         "sin_cos": "reference_impls.sin_cos.spec:SPEC"})
    store = GoldenStore(default_golden_dir())
    runs = collect_runs(registry.ids(), "ci", registry=registry,
                        golden=store)
    runs.command = "python docs/make_failure_page.py " + out
    return report_files(runs, store, out, registry)["report.html"]


if __name__ == "__main__":
    print(main(sys.argv[1]))
