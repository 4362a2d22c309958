"""Every registered port's ci run matches its golden; ci goldens are prefixes of tutorial ones."""

import numpy as np
import pytest

from harness.errors import CorpusError
from harness.registry import default_registry
from harness.runner import run_port

REGISTRY = default_registry()


def port_params(profile):
    for entry in REGISTRY.entries():
        marks = [getattr(pytest.mark, entry.framework)]
        if profile == "tutorial":
            marks.append(pytest.mark.slow)
        yield pytest.param(entry.port_id, marks=marks, id=entry.port_id.replace("/", "-"))


@pytest.mark.parametrize("port_id", list(port_params("ci")))
def test_ci_run_matches_golden(port_id, golden_check):
    try:
        traj = run_port(port_id, "ci")
    except CorpusError as exc:
        pytest.skip(str(exc))
    golden_check(traj)


@pytest.mark.parametrize("port_id", list(port_params("tutorial")))
def test_tutorial_run_matches_golden(port_id, golden_check):
    try:
        traj = run_port(port_id, "tutorial")
    except CorpusError as exc:
        pytest.skip(str(exc))
    golden_check(traj)


@pytest.mark.parametrize("port_id", [e.port_id for e in REGISTRY.entries()])
def test_ci_golden_is_a_prefix_of_the_tutorial_golden(port_id, golden_store):
    ci, full = golden_store.read(port_id, "ci"), golden_store.read(port_id, "tutorial")
    assert ci.meta["seed"] == full.meta["seed"]
    for metric, values in ci.metrics.items():
        # recorded on one machine, so the shared epochs are bitwise equal
        np.testing.assert_array_equal(values, full.metrics[metric][: len(values)])
