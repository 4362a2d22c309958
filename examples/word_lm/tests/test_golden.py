"""word_lm's runs match their goldens (golden/word_lm/torch/<profile>/): the ci run, and
the tutorial run with its checkpoint segments. `pytest --update-golden` records them (and
still fails, so the new golden is reviewed before it is committed)."""

import pytest

pytestmark = pytest.mark.torch


def test_ci_run_matches_its_golden(golden_check):
    golden_check.run("word_lm/torch", "ci")


def test_tutorial_run_and_its_segments_match_their_golden(golden_check):
    golden_check.run("word_lm/torch", "tutorial")
