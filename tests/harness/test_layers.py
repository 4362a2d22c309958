"""The layers import downwards only: a port's ``import harness.interface`` loads the
interface (and what it stands on), not the store, the check, the sweeps or the report."""

import subprocess
import sys

import pytest

HIGHER = ("harness.golden", "harness.check", "harness.sweep", "harness.report", "harness.cli",
          "harness.registry", "harness.runner", "harness.calibrate")


@pytest.mark.parametrize("module", ["harness", "harness.interface"])
def test_importing_a_lower_layer_loads_no_higher_one(module):
    code = (f"import sys, {module}\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('harness'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert module in loaded
    assert not [m for m in loaded if m.startswith(HIGHER)], loaded


def test_the_package_still_offers_its_public_names_on_demand():
    import harness

    assert harness.check_request.__name__ == "check_request"
    assert harness.GoldenStore.__module__.startswith("harness.golden")
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        harness.nothing_here  # noqa: B018
