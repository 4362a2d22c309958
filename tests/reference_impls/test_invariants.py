"""Every invariant applied to every registered port (and device), with Hypothesis-drawn sizes.

Thin: the checks live in harness/invariants/ (_checks.py, _process.py);
each tutorial's ``spec.PROBE`` says how to draw sizes and batches. Examples per test scale
with the Hypothesis profile (HYPOTHESIS_PROFILE: ci, dev, thorough).
"""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.backends import FRAMEWORKS
from harness.errors import CorpusError
from harness.invariants import (
    FD_TOLERANCE,
    Example,
    MissingHookError,
    Probe,
    build_port,
    check_agreement,
    check_clipping,
    check_determinism,
    check_device_trajectory,
    check_gradients,
    check_shapes,
    check_truncation,
    draw_batch,
    probe_for,
    sizes_strategy,
)
from harness.pytest_plugin import require_data
from harness.registry import default_registry

REGISTRY = default_registry()
#: building a port per example is the cost: a sixth of the profile's examples (ci: 5)
EXAMPLES = settings(max_examples=max(3, settings().max_examples // 6))
FEW = settings(max_examples=max(2, settings().max_examples // 15))


def _reason(framework: str) -> str:
    return f"install the {framework} extra: pip install 'rnn-harness[{framework}]'"


def _port_param(port_id: str) -> object:
    frameworks = {REGISTRY.get(port_id).framework}
    return pytest.param(port_id, id=port_id.replace("/", "-"),
                        marks=[getattr(pytest.mark, f) for f in frameworks])


PORTS = [_port_param(e.port_id) for e in REGISTRY.entries()]


def _probe(port_id: str) -> Probe:
    probe = probe_for(REGISTRY.get(port_id).tutorial)
    if probe is None:
        pytest.skip(f"{port_id}: its spec.py has no PROBE")
    return probe


def _needs(*port_ids: str) -> None:
    for port_id in port_ids:
        framework = REGISTRY.get(port_id).framework
        pytest.importorskip(framework, reason=_reason(framework))


def _build(port_id: str, probe: Probe, example: Example, **kwargs: object):
    try:
        return build_port(port_id, probe, example, registry=REGISTRY, **kwargs)  # type: ignore[arg-type]
    except CorpusError as exc:
        pytest.skip(f"char_rnn corpus not found: {exc.summary} (set RNN_HARNESS_DATA)")
    except MissingHookError as exc:
        pytest.skip(exc.summary)


# ----------------------------------------------------------------------------- 1. shapes
@pytest.mark.parametrize("port_id", PORTS)
@EXAMPLES
@given(data=st.data())
def test_forward_shapes_follow_the_spec_for_drawn_sizes(port_id, data):
    _needs(port_id)
    probe = _probe(port_id)
    example = data.draw(sizes_strategy(probe), label="example")
    port = _build(port_id, probe, example)
    check_shapes(port, probe, example, draw_batch(probe, example))


# ------------------------------------------------------------------- 2. finite differences
@pytest.mark.parametrize("port_id", PORTS)
@FEW
@given(data=st.data())
def test_float64_gradients_match_central_differences(port_id, data):
    _needs(port_id)
    probe = _probe(port_id)
    example = probe.for_gradients(data.draw(sizes_strategy(probe), label="example"))
    # the shared config: MXNet's ReLU RNN op (char_rnn's MXNet concise) is only
    # float32-accurate in float64, which makes difference quotients noise (spec.py)
    config = (probe.cross_config or probe.make_config)(example.sizes)
    port = _build(port_id, probe, example, float64=True, config=config)
    eps, tol = probe.fd_overrides.get(port_id, (1e-6, FD_TOLERANCE))
    check_gradients(port, example, draw_batch(probe, example), eps=eps, tol=tol)


# -------------------------------------------------------------------- 3. across frameworks
def _framework_pairs() -> list[object]:
    """Each torch port with its twin in every other framework (MXNet, JAX)."""
    pairs = []
    for entry in REGISTRY.entries():
        if entry.framework != "torch":
            continue
        for framework in ("mxnet", "jax"):
            other = entry.port_id.replace("/torch", f"/{framework}", 1)
            if other in REGISTRY.ids():
                pairs.append(pytest.param(
                    entry.port_id, other, id=other.replace("/", "-"),
                    marks=[pytest.mark.torch, getattr(pytest.mark, framework),
                           pytest.mark.cross_framework]))
    return pairs


@pytest.mark.parametrize(("torch_id", "other_id"), _framework_pairs())
@EXAMPLES
@given(data=st.data())
def test_other_frameworks_agree_with_torch_from_the_same_weights(torch_id, other_id, data):
    _needs(torch_id, other_id)
    probe = _probe(torch_id)
    example = data.draw(sizes_strategy(probe), label="example")
    config = (probe.cross_config or probe.make_config)(example.sizes)
    a = _build(torch_id, probe, example, config=config)
    b = _build(other_id, probe, example, config=config)
    check_agreement(a, b, example, draw_batch(probe, example), probe.cross_tolerance,
                    what="cross-framework")


# ---------------------------------------------------------------------- 4. across variants
def _equivalences() -> list[object]:
    cases = []
    for tutorial in REGISTRY.tutorials():
        probe = probe_for(tutorial)
        for eq in probe.equivalences if probe else ():
            marks = {REGISTRY.get(p).framework for p in (eq.a, eq.b)}
            cases.append(pytest.param(probe, eq, id=f"{eq.a}={eq.b}".replace("/", "-"),
                                      marks=[getattr(pytest.mark, m) for m in marks]))
    return cases


@pytest.mark.parametrize(("probe", "equivalence"), _equivalences())
@EXAMPLES
@given(data=st.data())
def test_equivalent_variants_agree_with_mapped_weights(probe, equivalence, data):
    _needs(equivalence.a, equivalence.b)
    example = data.draw(sizes_strategy(probe), label="example")
    a = _build(equivalence.a, probe, example)
    config_b = equivalence.config_b(example.sizes) if equivalence.config_b else None
    b = _build(equivalence.b, probe, example, config=config_b)
    check_agreement(a, b, example, draw_batch(probe, example), equivalence.tolerance,
                    what="variants", equivalence=equivalence)


# ---------------------------------------------------------------------------- 5. truncation
@pytest.mark.parametrize("port_id", PORTS)
@FEW
@given(data=st.data())
def test_state_cut_stops_the_gradient_and_nothing_else_does(port_id, data):
    _needs(port_id)
    probe = _probe(port_id)
    example = data.draw(sizes_strategy(probe), label="example")
    # the shared (cross) config: a ReLU layer (char_rnn's MXNet concise) can zero the
    # uncut gradient through dead units and hide a leak; the cut does not depend on it
    config = (probe.cross_config or probe.make_config)(example.sizes)
    port = _build(port_id, probe, example, config=config)
    try:
        check_truncation(port, example, draw_batch(probe, example),
                         draw_batch(probe, example, 1))
    except MissingHookError as exc:
        pytest.skip(exc.summary)


# ----------------------------------------------------------------------------- 6. clipping
@pytest.mark.parametrize("port_id", PORTS)
@FEW
@given(data=st.data(), log_scale=st.floats(-3, 3), theta=st.floats(0.01, 10))
def test_clipping_bounds_the_global_norm_and_keeps_the_direction(port_id, data, log_scale,
                                                                theta):
    _needs(port_id)
    probe = _probe(port_id)
    example = data.draw(sizes_strategy(probe), label="example")
    port = _build(port_id, probe, example)
    if not hasattr(port, "clip_grads"):
        pytest.skip(f"{port_id}: the tutorial does not clip gradients (no clip_grads hook)")
    _, grads = port.loss_and_grads(draw_batch(probe, example))
    scaled = {k: (g * np.float32(10.0 ** log_scale)).astype(g.dtype) for k, g in grads.items()}
    check_clipping(port, example, scaled, theta)


# ------------------------------------------------------------------------------ 7. devices
def _cuda_available(framework: str) -> bool:
    fw = FRAMEWORKS[framework]
    if fw.backend is None or importlib.util.find_spec(fw.module) is None:
        return False
    return bool(importlib.import_module(fw.backend).cuda_available())


@pytest.mark.cuda
@pytest.mark.parametrize("port_id", PORTS)
@FEW
@given(data=st.data())
def test_cuda_matches_cpu_outputs_loss_and_gradients(port_id, data):
    framework = REGISTRY.get(port_id).framework
    _needs(port_id)
    if not _cuda_available(framework):
        pytest.skip(f"no CUDA device visible to {framework} on this machine")
    probe = _probe(port_id)
    example = data.draw(sizes_strategy(probe), label="example")
    cpu, gpu = _build(port_id, probe, example), _build(port_id, probe, example, device="cuda")
    check_agreement(cpu, gpu, example, draw_batch(probe, example), probe.device_tolerance,
                    what="devices")


@pytest.mark.cuda
@pytest.mark.parametrize("port_id", PORTS)
def test_cuda_short_trajectory_matches_cpu(port_id):
    framework = REGISTRY.get(port_id).framework
    _needs(port_id)
    if not _cuda_available(framework):
        pytest.skip(f"no CUDA device visible to {framework} on this machine")
    check_device_trajectory(port_id, "cuda", _probe(port_id).device_tolerance)


# -------------------------------------------------------------------------- 8. determinism
@pytest.mark.parametrize("port_id", PORTS)
def test_same_seed_gives_the_same_bits_in_two_processes(port_id):
    _needs(port_id)
    _probe(port_id)
    require_data(port_id, registry=REGISTRY)  # the children would fail on a missing corpus
    check_determinism(port_id, seed=0)
