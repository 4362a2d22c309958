"""The simulated-machines suite is scheduled, not part of each env's run: its tests are
deselected unless the marker expression asks for them (``-m machines``, as ``tox -e
machines`` does)."""

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    expr = config.getoption("markexpr") or ""
    if "machines" in expr and "not machines" not in expr:
        return
    ours = [item for item in items if item.get_closest_marker("machines")]
    if ours:
        config.hook.pytest_deselected(items=ours)
        items[:] = [item for item in items if not item.get_closest_marker("machines")]
