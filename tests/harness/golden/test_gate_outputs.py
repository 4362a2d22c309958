"""The gate compares the stored outputs (what a tutorial shows after training) under the
spec's own tolerance: numbers within it, greedy text exactly; a differing output fails the
verdict, naming the output, where it first differs and both values (numpy toy port)."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from harness.check import gate, record, resolve
from harness.compare import compare_output
from harness.interface import Tolerance
from harness.registry import PortEntry, Registry
from harness.runner import run_port
from tests.harness.interface.toy import SPEC, ToySchedule

#: The toy tutorial gating its output ``y`` (the read-out of the first sample) tightly.
SPEC_OUT = replace(SPEC, tolerances={**SPEC.tolerances,
                                     "output:y": Tolerance(rtol=1e-12, why="test")})


class OtherSampleSchedule(ToySchedule):
    """The prediction pass fed another sample than the tutorial's: training (and so every
    per-epoch figure) is unchanged, only the output moves."""

    def outputs(self, ad: Any, config: Any, loop: Any) -> dict[str, Any]:
        return {"y": ad.forward({"x": loop.data["x"][1]})["y"].ravel().tolist()}


SPEC_MUTATED = replace(SPEC_OUT, schedule=OtherSampleSchedule())


def registry(spec: str = "SPEC_OUT") -> Registry:
    return Registry([PortEntry("toy", "numpy", "", "tests.harness.interface.toy:ToyAdapter")],
                    {"toy": f"tests.harness.golden.test_gate_outputs:{spec}"})


@pytest.fixture
def golden(tmp_path):
    record(resolve("toy/numpy", "ci", golden_dir=tmp_path, registry=registry()))
    return tmp_path


def test_a_changed_prediction_pass_fails_the_gate_though_every_epoch_matches(golden):
    verdict = gate(resolve("toy/numpy", "ci", golden_dir=golden,
                           registry=registry("SPEC_MUTATED")), write_obtained=False)
    comp = verdict.comparison
    assert all(m.passed for m in comp.columns) and comp.first_divergence is None
    assert not verdict.passed
    [out] = comp.failed_outputs
    assert out.name == "y" and out.path == (0,)
    assert out.expected == verdict.expected.outputs["y"][0]
    assert out.obtained == verdict.obtained.outputs["y"][0]
    assert any(n.startswith(f"output y[0] differs: {out.obtained!r} vs golden "
                            f"{out.expected!r}") for n in verdict.notes), verdict.notes


def test_the_unchanged_port_passes_with_its_outputs_compared(golden):
    verdict = gate(resolve("toy/numpy", "ci", golden_dir=golden, registry=registry()),
                   write_obtained=False)
    assert verdict.passed
    assert [o.name for o in verdict.comparison.outputs] == ["y"]
    assert verdict.comparison.outputs[0].elements == len(verdict.expected.outputs["y"])


def test_an_output_the_spec_does_not_name_is_not_compared(tmp_path):
    reg = Registry([PortEntry("toy", "numpy", "", "tests.harness.interface.toy:ToyAdapter")],
                   {"toy": "tests.harness.interface.toy:SPEC"})
    req = resolve("toy/numpy", "ci", golden_dir=tmp_path, registry=reg)
    record(req)
    moved = run_port("toy/numpy", "ci", registry=reg)
    moved.outputs["y"] = [v + 1.0 for v in moved.outputs["y"]]
    verdict = gate(req, obtained=moved, write_obtained=False)
    assert verdict.passed and verdict.comparison.outputs == ()


def texts(run: Any, text: dict[str, Any]) -> Any:
    run = copy.deepcopy(run)
    run.outputs = {**run.outputs, "predictions": text}
    return run


def test_greedy_text_must_match_exactly_and_the_note_names_the_first_character(tmp_path):
    spec_text = "SPEC_TEXT"
    reg = registry(spec_text)
    req = resolve("toy/numpy", "ci", golden_dir=tmp_path, registry=reg)
    base = run_port("toy/numpy", "ci", registry=reg)
    golden = {"time traveller": "time traveller the the", "traveller": "traveller and"}
    req.store.write(texts(base, golden))
    assert gate(req, obtained=texts(base, golden), write_obtained=False).passed
    changed = {**golden, "traveller": "traveller an the"}
    verdict = gate(req, obtained=texts(base, changed), write_obtained=False)
    assert not verdict.passed
    [out] = verdict.comparison.failed_outputs
    assert out.path == ("traveller",) and out.char == 12
    assert ("output predictions['traveller'] differs at character 12: ' ' vs golden 'd' "
            "(exact); obtained 'traveller an the', golden 'traveller and'") in verdict.notes


SPEC_TEXT = replace(SPEC, tolerances={**SPEC.tolerances, "output:predictions": Tolerance(
    rtol=0.5, why="a loose number tolerance: text is compared exactly whatever it says")})


def test_numbers_within_the_output_tolerance_pass_and_beyond_it_fail():
    tol = Tolerance(rtol=1e-3)
    assert compare_output("p", [1.0, 2.0005], [1.0, 2.0], tol).passed
    out = compare_output("p", [1.0, 2.01], [1.0, 2.0], tol)
    assert (out.passed, out.path, out.obtained, out.expected) == (False, (1,), 2.01, 2.0)


def test_a_missing_or_extra_element_fails_where_it_is():
    tol = Tolerance(rtol=0.0)
    short = compare_output("p", [1.0], [1.0, 2.0], tol)
    assert (short.passed, short.path, short.obtained, short.expected) == (False, (1,), None, 2.0)
    extra = compare_output("p", {"a": "x", "b": "y"}, {"a": "x"}, tol)
    assert (extra.passed, extra.path, extra.expected) == (False, ("b",), None)
    nested = compare_output("p", {"10": {"t": "abc"}}, {"10": {"t": "abd"}}, tol)
    assert (nested.path, nested.char) == (("10", "t"), 2)


def test_an_output_past_its_tolerance_horizon_is_not_compared():
    from harness.compare import compare_outputs

    tol = {"output:p": Tolerance(rtol=0.0, horizon=5, why="chaotic after epoch 5")}
    assert len(compare_outputs({"p": "b"}, {"p": "a"}, tol, epochs=5)) == 1
    assert compare_outputs({"p": "b"}, {"p": "a"}, tol, epochs=6) == ()
    assert not compare_outputs({"p": "b"}, {"p": "a"}, tol)[0].passed
