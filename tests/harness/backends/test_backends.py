"""harness/backends/__init__.py: what every framework backend shares."""

import pytest

from harness.backends import one_adam_step
from harness.errors import UsageError


def test_one_adam_step_is_the_common_count_or_zero_before_any_step():
    assert one_adam_step({"w": 7, "b": 7}, "t/torch") == 7
    assert one_adam_step({}, "t/torch") == 0


def test_differing_adam_steps_cannot_be_checkpointed_and_say_why():
    with pytest.raises(UsageError) as info:
        one_adam_step({"w": 7, "b": 6}, "t/torch")
    text = str(info.value)
    assert "step count differs" in text and "w=7, b=6" in text and "Fix:" in text
