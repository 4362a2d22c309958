"""One cross-framework rule: the report judges a port against another framework's run with
the tolerances `check --against` uses (the spec's cross_framework table alone)."""

import pytest

from harness.check import resolve
from harness.registry import default_registry
from harness.report._status import cross_tolerances

REGISTRY = default_registry()
PAIRS = [(a.port_id, b.port_id) for a in REGISTRY.entries() for b in REGISTRY.entries()
         if a.tutorial == b.tutorial and a.framework == "torch" and b.framework == "mxnet"
         and a.variant == b.variant]


@pytest.mark.parametrize("follower, reference", [(b, a) for a, b in PAIRS],
                         ids=[b.replace("/", "-") for _, b in PAIRS])
def test_the_report_and_check_against_use_the_same_cross_framework_tolerances(
        tmp_path, follower, reference):
    req = resolve(follower, "ci", golden_dir=tmp_path, registry=REGISTRY, against=reference)
    spec = REGISTRY.spec(req.spec.name)
    assert dict(cross_tolerances(spec)) == dict(req.tolerances)
    for metric in spec.metrics:  # never the golden's own (tighter) entry for a metric
        assert cross_tolerances(spec).get(metric) is spec.cross_framework.get(metric)
