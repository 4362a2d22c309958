"""my_sine's ci run matches its golden. `pytest --update-golden` records it (and still
fails, so the new golden is reviewed before it is committed); later runs train with the
golden's seed and fail, naming the first divergent epoch, when the numbers move."""


def test_ci_run_matches_its_golden(golden_check):
    golden_check.run("my_sine/numpy", "ci")
