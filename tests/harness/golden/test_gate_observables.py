"""The gate judges the training observables per epoch beside the tutorial's figure, each
with its own tolerance from the spec (per profile where given); the first-divergence note
names the first quantity that left its tolerance and both values; a golden recorded before
the observables still checks, with a note saying they were not gated (numpy toy port)."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest

from harness.check import gate, record, resolve
from harness.errors import UnknownProfileError
from harness.interface import Tolerance
from harness.registry import PortEntry, Registry
from harness.runner import run_port
from tests.harness.interface.toy import SPEC

OBSERVABLES = ("grad_norm_mean", "grad_norm_max", "clip_fraction", "param_norm",
               "update_norm_mean")
#: The toy gating its figure and every observable tightly (``observables``: the fallback).
SPEC_OBS = replace(SPEC, tolerances={
    "default": Tolerance(rtol=1e-9), "observables": Tolerance(rtol=1e-9),
    "clip_fraction": Tolerance(rtol=0.0, why="a clip decision is exact")})
#: Loose for every profile, tight for ci only: the per-profile table wins for its profile.
SPEC_PROFILES = replace(SPEC, tolerances={"default": Tolerance(rtol=0.1)},
                        profile_tolerances={"ci": {"default": Tolerance(rtol=1e-9)}})


def registry(spec: str = "SPEC_OBS") -> Registry:
    return Registry([PortEntry("toy", "numpy", "", "tests.harness.interface.toy:ToyAdapter")],
                    {"toy": f"tests.harness.golden.test_gate_observables:{spec}"})


def recorded(tmp_path, spec: str = "SPEC_OBS", profile: str = "ci"):
    req = resolve("toy/numpy", profile, golden_dir=tmp_path, registry=registry(spec))
    record(req)
    return req


def nudged(req, column: str, epoch: int, factor: float):
    run = run_port(req.port_id, req.profile, registry=req.registry)
    run = copy.deepcopy(run)
    run.metrics[column][epoch] *= factor
    return run


def test_every_observable_is_gated_beside_the_figure(tmp_path):
    req = recorded(tmp_path)
    verdict = gate(req, write_obtained=False)
    assert verdict.passed
    assert [m.metric for m in verdict.comparison.observables] == list(OBSERVABLES)
    assert [m.metric for m in verdict.comparison.metrics] == ["loss"]


@pytest.mark.parametrize("column", OBSERVABLES)
def test_an_observable_that_moves_alone_fails_and_is_named_with_both_values(tmp_path, column):
    req = recorded(tmp_path)
    run = nudged(req, column, 2, 1.5 if column != "clip_fraction" else 0.0)
    if column == "clip_fraction" and run.metrics[column][2] == 0.0:
        run.metrics[column][2] = 0.5
    verdict = gate(req, obtained=run, write_obtained=False)
    comp = verdict.comparison
    assert not verdict.passed and comp.first_divergent_epoch == 2
    first = comp.first_divergence
    assert first is not None and (first.epoch, first.quantity) == (2, column)
    want = verdict.expected.metrics[column][2]
    got = run.metrics[column][2]
    assert (first.obtained, first.expected) == (got, want)
    note = next(n for n in verdict.notes if n.startswith("first divergent"))
    assert note.startswith(f"first divergent: epoch 2: {column} {got:.8g} vs golden {want:.8g}")
    assert f"loss {run.metrics['loss'][2]:.8g} vs" in note and "(ok)" in note
    # the figure alone still reads as untouched: observables never replace it
    assert comp.max_rel_error == 0.0


def test_the_earliest_epoch_wins_then_the_figure_before_the_observables(tmp_path):
    req = recorded(tmp_path)
    run = nudged(req, "param_norm", 3, 2.0)
    run.metrics["grad_norm_max"][1] *= 2.0
    run.metrics["loss"][3] *= 2.0
    first = gate(req, obtained=run, write_obtained=False).comparison.first_divergence
    assert first is not None and (first.epoch, first.quantity) == (1, "grad_norm_max")
    run.metrics["grad_norm_max"][1] /= 2.0
    first = gate(req, obtained=run, write_obtained=False).comparison.first_divergence
    assert first is not None and (first.epoch, first.quantity) == (3, "loss")


def test_an_observable_without_a_tolerance_is_not_gated(tmp_path):
    req = recorded(tmp_path, spec="SPEC_PLAIN")
    verdict = gate(req, obtained=nudged(req, "grad_norm_max", 1, 2.0), write_obtained=False)
    assert verdict.passed and verdict.comparison.observables == ()


SPEC_PLAIN = replace(SPEC, tolerances={"default": Tolerance(rtol=1e-9)})


def test_a_golden_from_before_the_observables_checks_its_figure_with_a_note(tmp_path):
    req = recorded(tmp_path)
    old = req.store.read("toy/numpy", "ci")
    old.metrics = {"loss": old.metrics["loss"]}
    req.store.write(old)
    verdict = gate(req, obtained=nudged(req, "grad_norm_max", 1, 2.0), write_obtained=False)
    assert verdict.passed and verdict.comparison.observables == ()
    [note] = verdict.notes
    assert note.startswith("the golden predates the training observables (grad_norm_mean, "
                           "grad_norm_max, clip_fraction, param_norm, update_norm_mean): "
                           "they are not gated; `rnn-harness record toy/numpy --profile ci`")
    moved = nudged(req, "loss", 1, 1.01)
    assert not gate(req, obtained=moved, write_obtained=False).passed


def test_a_profile_table_replaces_the_spec_table_for_that_profile_only(tmp_path):
    for profile, passes in (("ci", False), ("tutorial", True)):
        req = recorded(tmp_path, spec="SPEC_PROFILES", profile=profile)
        assert req.tolerances["default"].rtol == (1e-9 if profile == "ci" else 0.1)
        verdict = gate(req, obtained=nudged(req, "loss", 1, 1.001), write_obtained=False)
        assert verdict.passed is passes, profile


def test_the_spec_table_alone_still_serves_every_profile():
    assert SPEC.tolerances_for("ci") is SPEC.tolerances
    assert SPEC.tolerance("loss", "ci") == SPEC.tolerance("loss") == Tolerance(rtol=1e-12)
    assert SPEC_PROFILES.tolerance("loss", "ci").rtol == 1e-9
    assert SPEC_PROFILES.tolerance("loss", "tutorial").rtol == 0.1


def test_tolerances_for_an_unknown_profile_are_refused():
    with pytest.raises(UnknownProfileError, match="profiles it does not have") as info:
        replace(SPEC, profile_tolerances={"nightly": {"default": Tolerance(rtol=1e-3)}})
    assert info.value.context["profile_tolerances"] == "nightly"


def test_across_frameworks_the_observables_and_outputs_are_not_gated(tmp_path):
    spec = replace(SPEC_OBS, cross_framework={"default": Tolerance(rtol=1e-9)})
    from harness.compare import compare_trajectories

    a = run_port("toy/numpy", "ci", registry=registry())
    b = copy.deepcopy(a)
    b.metrics["grad_norm_max"] = b.metrics["grad_norm_max"] * 2
    comp = compare_trajectories(a, b, spec.metrics, spec.cross_framework,
                                observables=OBSERVABLES, outputs=True)
    assert comp.passed and comp.observables == () and comp.outputs == ()
    assert np.array_equal(a.metrics["loss"], b.metrics["loss"])
