"""Every registered port's ci run matches its golden; ci goldens are prefixes of tutorial ones."""

import numpy as np
import pytest

from harness.errors import CorpusError
from harness.registry import default_registry

REGISTRY = default_registry()


def port_params():
    for profile in ("ci", "tutorial"):
        for entry in REGISTRY.entries():
            marks = [getattr(pytest.mark, entry.framework),
                     pytest.mark.xdist_group(entry.port_id)]  # one worker trains its ci run
            if profile == "tutorial":
                marks.append(pytest.mark.slow)  # minutes for char_rnn; run with -m slow
            yield pytest.param(entry.port_id, profile, marks=marks,
                               id=f"{entry.port_id.replace('/', '-')}-{profile}")


@pytest.mark.parametrize("port_id, profile", list(port_params()))
def test_run_matches_golden(port_id, profile, golden_check, ci_run):
    """The run as `check` trains it (the golden's seed and threads; the ci run is shared
    with the checkpoint-restore tests), then every checkpoint segment, through the plugin."""
    if profile == "ci":
        golden_check(ci_run(port_id).trajectory)
        return
    try:
        golden_check.run(port_id, profile)
    except CorpusError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("port_id", [e.port_id for e in REGISTRY.entries()])
def test_ci_golden_is_a_prefix_of_the_tutorial_golden(port_id, golden_store):
    ci, full = golden_store.read(port_id, "ci"), golden_store.read(port_id, "tutorial")
    assert ci.meta["seed"] == full.meta["seed"]
    # a golden recorded before the observables lacks their columns: compare what both have,
    # which always includes the tutorial's own figures
    shared = ci.metrics.keys() & full.metrics.keys()
    assert set(REGISTRY.spec(REGISTRY.get(port_id).tutorial).metrics) <= shared
    for metric in sorted(shared):
        # recorded on one machine, so the shared epochs are bitwise equal
        values = ci.metrics[metric]
        np.testing.assert_array_equal(values, full.metrics[metric][: len(values)],
                                      err_msg=f"{port_id}: {metric}")
