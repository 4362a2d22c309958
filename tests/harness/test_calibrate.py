"""harness/calibrate.py and `rnn-harness calibrate`: every gated quantity's noise against
its signal, judged against the spec's tolerance, and proposed as paste-ready source."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pytest

from harness.calibrate import calibrate, calibrate_stored_segments, with_field
from harness.check import resolve
from harness.cli import main
from harness.errors import UsageError
from harness.interface import SegmentPlan, Tolerance
from harness.registry import PortEntry, Registry
from tests.fakes import SPEC, FakePort, fake_registry
from tests.harness.interface import toy


# -- a fake whose second figure is a count: 1-ulp noise cannot move it
class HitsPort(FakePort):
    def train(self):
        for record in super().train():
            hits = float(sum(abs(v) < 1.0 for v in self.x @ self.w - self.y))
            yield replace(record, metrics={**record.metrics, "hits": hits})


HITS_SPEC = replace(SPEC, metrics=("loss", "hits"),
                    tolerances={"default": Tolerance(rtol=1e-9), "hits": Tolerance(rtol=0.0)})


@dataclass(frozen=True)
class EtaConfig:
    """A config whose learning rate is not called ``lr``."""

    epochs: int = 4
    learning_rate: float = 0.1
    n: int = 16
    diverge_at: int | None = None

    @property
    def lr(self) -> float:  # what FakePort reads
        return self.learning_rate


ETA_SPEC = replace(SPEC, profiles={"ci": EtaConfig(), "tutorial": EtaConfig(epochs=8)},
                   profile_tolerances={})

# -- the numpy toy (observables, outputs, checkpoints) in float32, as a golden stores it,
# with a segment plan
class Toy32(toy.ToyAdapter):
    def build(self, config, seed, device, data):
        super().build(config, seed, device, data)
        self.w, self.v = self.w.astype(np.float32), self.v.astype(np.float32)
        self.m = {k: np.zeros_like(t) for k, t in self.tensors().items()}
        self.s = {k: np.zeros_like(t) for k, t in self.tensors().items()}

    def forward_loss(self, batch, state):
        loss, h = super().forward_loss(batch, state)
        return loss, h.astype(np.float32)

    def backward(self, loss):
        self._grads = {k: g.astype(np.float32) for k, g in self._pending.items()}


TOY_SPEC = replace(
    toy.SPEC,
    tolerances={"default": Tolerance(rtol=1e-9), "observables": Tolerance(rtol=1e-9),
                "output:y": Tolerance(rtol=0.0, atol=1e-12)},
    segments=SegmentPlan(spacing=4, length=3,
                         epoch_tolerances={"default": Tolerance(rtol=1e-5),
                                           "clip_fraction": Tolerance(rtol=0.0)},
                         step_tolerances={"default": Tolerance(rtol=5e-4),
                                          "clipped": Tolerance(rtol=0.0)}))


class OneSpec(Registry):
    """One port whose tutorial's spec is the object given (a spec built in a test)."""

    def __init__(self, entry: PortEntry, spec: object):
        super().__init__([entry], {entry.tutorial: "unused:unused"})
        self._spec = spec

    def spec(self, tutorial: str):  # type: ignore[override]
        return self._spec


FAKE = PortEntry("fake", "numpy", "", "tests.fakes:FakePort")
TOY = PortEntry("toy", "numpy", "", "tests.harness.test_calibrate:Toy32")


def hits_registry() -> Registry:
    return Registry([PortEntry("fake", "numpy", "", "tests.harness.test_calibrate:HitsPort")],
                    {"fake": "tests.harness.test_calibrate:HITS_SPEC"})


def eta_registry() -> Registry:
    return Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakePort")],
                    {"fake": "tests.harness.test_calibrate:ETA_SPEC"})


def toy_registry() -> Registry:
    return Registry([TOY], {"toy": "tests.harness.test_calibrate:TOY_SPEC"})


def rows(text: str) -> dict[str, list[str]]:
    """The calibration table's rows by quantity, cells stripped."""
    found = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 6:
            found[cells[0]] = cells[1:]
    return found


def block(text: str) -> str:
    """The paste-ready source at the end of the output: from its first comment line on."""
    return text[text.index("# rnn-harness calibrate"):]


def test_an_exact_quantity_is_reported_exact_not_as_a_failure(capsys):
    assert main(["calibrate", "fake/numpy", "--profile", "ci"],
                registry_factory=hits_registry) == 0
    text = capsys.readouterr().out
    assert "DOES NOT SEPARATE" not in text
    assert rows(text)["hits"][0] == "0" and rows(text)["hits"][-1] == "exact"
    assert rows(text)["loss"][-1] == "ok"
    assert re.search(r'"hits": Tolerance\(rtol=0\.0, why="exact: 1-ulp noise 0', text)


def test_the_verdict_uses_the_tolerance_the_spec_gives_that_profile():
    reg = OneSpec(FAKE, replace(SPEC, profile_tolerances={"ci": {"loss": Tolerance(rtol=1e-30)}}))
    assert calibrate("fake/numpy", "ci", registry=reg).quantity("loss").verdict == (
        "TOO TIGHT: the noise fails it")
    assert calibrate("fake/numpy", "tutorial", registry=reg).quantity("loss").verdict == "ok"


def test_a_prefix_calibration_measures_every_observable_and_output(capsys):
    assert main(["calibrate", "toy/numpy", "--profile", "ci"],
                registry_factory=toy_registry) == 0
    text = capsys.readouterr().out
    for name in ("loss", "grad_norm_mean", "grad_norm_max", "clip_fraction", "param_norm",
                 "update_norm_mean", "output:y"):
        assert re.search(rf"│ {name} +│", text), name
    table = rows(text)
    assert table["output:y"][2] == "atol 1e-12"  # the output's own entry, absolute


def test_segments_from_the_cli_measure_every_epoch_and_step_quantity(tmp_path, capsys):
    assert main(["record", "toy/numpy", "--profile", "tutorial", "--golden-dir",
                 str(tmp_path)], registry_factory=toy_registry) == 0
    capsys.readouterr()
    assert main(["calibrate", "toy/numpy", "--segments", "--golden-dir", str(tmp_path)],
                registry_factory=toy_registry) == 0
    text = capsys.readouterr().out
    table = rows(text)
    for name in ("loss", "grad_norm", "clipped", "param_norm", "update_norm"):
        assert f"step {name}" in table, name
    assert table["step loss"][3] == "2/2" and table["step loss"][-1] == "ok"
    assert table["step param_norm"][-1] == "TOO LOOSE: misses the signal"  # 5e-4 > 8.5e-5
    assert "epoch loss" in table and "epoch param_norm" in table
    assert table["step clipped"][-1] == "exact"
    assert ("2 stored segments of 3 epochs: replayed as specified 2/2 pass the golden (2 bit "
            "for bit); nudged by 1 ulp 2/2 pass; lr +0.1 % caught in 2/2") in text


def test_the_paste_ready_blocks_are_python_that_pass_their_own_calibration(tmp_path, capsys):
    assert main(["calibrate", "toy/numpy", "--profile", "ci"],
                registry_factory=toy_registry) == 0
    prefix = eval(block(capsys.readouterr().out), {"Tolerance": Tolerance})  # noqa: S307
    assert set(prefix) >= {"loss", "param_norm", "output:y"}
    assert all(isinstance(t, Tolerance) and t.why for t in prefix.values())
    main(["record", "toy/numpy", "--profile", "tutorial", "--golden-dir", str(tmp_path)],
         registry_factory=toy_registry)
    capsys.readouterr()
    main(["calibrate", "toy/numpy", "--segments", "--golden-dir", str(tmp_path)],
         registry_factory=toy_registry)
    plan = eval(block(capsys.readouterr().out),  # noqa: S307
                {"Tolerance": Tolerance, "SegmentPlan": SegmentPlan})
    assert isinstance(plan, SegmentPlan) and (plan.spacing, plan.length) == (4, 3)
    assert all(isinstance(t, Tolerance) for t in plan.step_tolerances.values())
    pasted = resolve("toy/numpy", "tutorial", golden_dir=tmp_path,
                     registry=OneSpec(TOY, replace(TOY_SPEC, segments=plan)))
    segments = calibrate_stored_segments(pasted)
    assert {q.verdict for q in segments.quantities} <= {"ok", "exact"}
    assert (segments.noisy, segments.caught) == (0, 2)
    # pasted into the spec, every proposed tolerance absorbs the noise and catches the lr
    # change (or is exact)
    reg = OneSpec(TOY, replace(TOY_SPEC, tolerances=prefix))
    verdicts = {q.key: q.verdict for q in calibrate("toy/numpy", "ci", registry=reg).quantities}
    assert set(verdicts.values()) <= {"ok", "exact"}, verdicts


def test_a_config_without_the_lr_field_exits_2_naming_its_fields(capsys):
    assert main(["calibrate", "fake/numpy", "--profile", "ci"],
                registry_factory=eta_registry) == 2
    err = capsys.readouterr().err
    assert "config field 'lr', but EtaConfig has no such field" in err
    assert "its fields: epochs, learning_rate, n, diverge_at" in err
    assert "--lr-field learning_rate" in err and "Traceback" not in err
    assert "progress" not in err  # refused before anything trained
    assert main(["calibrate", "fake/numpy", "--profile", "ci", "--lr-field", "learning_rate"],
                registry_factory=eta_registry) == 0


def test_with_field_scales_the_named_field_only():
    assert with_field(EtaConfig(), "learning_rate", 1.5) == EtaConfig(learning_rate=0.1 * 1.5)
    with pytest.raises(UsageError, match="holds no number"):
        with_field(EtaConfig(), "diverge_at", 1.5)


def test_calibrate_cli_states_the_lr_change_and_refuses_one_outside_0_1(capsys):
    assert main(["calibrate", "fake/numpy", "--profile", "ci", "--lr-change", "0.02"],
                registry_factory=fake_registry) == 0
    assert "signal (lr +0.02)" in capsys.readouterr().out
    assert main(["calibrate", "fake/numpy", "--profile", "ci", "--lr-change", "2"],
                registry_factory=fake_registry) == 2
    err = capsys.readouterr().err
    assert "--lr-change must lie between 0 and 1" in err and "Traceback" not in err
