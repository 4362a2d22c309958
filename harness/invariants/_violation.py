"""How a check says that a port broke an invariant: the typed error, and the optional
hooks a check needs (a missing one raises ``MissingHookError``, which tests skip on)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.errors import InvariantViolation, MissingHookError
from harness.interface import Example, Port


def violation(summary: str, check: str, port: str, parameter: str, example: Example,
              fix: str, **context: object) -> InvariantViolation:
    """The error naming the check, the port, the parameter and the drawn example."""
    return InvariantViolation(summary, check=check, parameter=parameter,
                              example=example.describe(), port=port, context=context, fix=fix)


def hook(port: Port, name: str, needed_for: str) -> Callable[..., Any]:
    """The port's optional method ``name``, or ``MissingHookError``."""
    method = getattr(port, name, None)
    if method is None:
        raise MissingHookError(port.port_id, name, needed_for)
    return method
