"""``record --seeds`` and ``check --envelope`` on the noisy port: where the single-seed
golden and the seed envelope agree, and where they disagree (noise vs regression)."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.compare import classify
from harness.golden import GoldenStore, read_envelope
from harness.report import epoch_ranges
from harness.runner import run_port
from tests.harness.sweep.noisy import SPEC, registry_of
from tests.harness.sweep.workers import crash_registry


def run(argv, root, cls="NoisyPort"):
    return main([*argv, "--golden-dir", str(root)], registry_factory=lambda: registry_of(cls))


@pytest.fixture
def root(tmp_path):
    """A golden and a 16-seed envelope of the unchanged noisy port."""
    assert run(["record", "noisy/numpy"], tmp_path) == 0
    assert run(["record", "noisy/numpy", "--seeds", "16", "--workers", "0"], tmp_path) == 0
    return tmp_path


def test_unchanged_port_is_inside_and_matches_its_golden(root, capsys):
    assert run(["check", "noisy/numpy", "--envelope"], root) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "noisy/numpy" in line)
    assert "inside" in row and "matches" in row and "16" in row


def test_rounding_noise_fails_the_single_seed_golden_but_is_inside_the_envelope(root, capsys):
    assert run(["check", "noisy/numpy"], root, "JitterPort") == 1
    assert "first divergent epoch 0" in capsys.readouterr().err
    assert run(["check", "noisy/numpy", "--envelope"], root, "JitterPort") == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "noisy/numpy" in line)
    assert "inside" in row and "differs from epoch 0" in row


def table_body(out):
    """The table's rows as one line: between its header rule and its bottom edge (not the
    title or the caption)."""
    lines = out.splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("┡"))
    bottom = next(i for i, line in enumerate(lines) if line.startswith("└"))
    return " ".join(" ".join(line.strip("│ ").split()) for line in lines[top + 1:bottom])


@pytest.mark.parametrize("cls", ["NoisyPort", "JitterPort", "SlowerPort", "ShiftedPort",
                                 "LateBlowUpPort"])
def test_the_exit_code_is_1_exactly_where_the_table_shows_a_regression(root, capsys, cls):
    """JitterPort is the case that disagreed: its single-seed golden moves (rounding noise),
    band and outcomes say inside and same distribution, and the check exits 0; so the table
    may not call the single-seed column a REGRESSION."""
    code = run(["check", "noisy/numpy", "--envelope"], root, cls)
    body = table_body(capsys.readouterr().out)
    shows = "REGRESSION" in body or "SHIFTED" in body
    assert code == (1 if shows else 0), body
    assert (code == 0) == (cls in ("NoisyPort", "JitterPort")), body


def test_slower_training_leaves_the_envelope_at_the_epochs_it_names(root, capsys):
    assert run(["check", "noisy/numpy", "--envelope"], root, "SlowerPort") == 1
    expected = classify(run_port("noisy/numpy", "ci", registry=registry_of("SlowerPort")),
                        read_envelope(GoldenStore(root), "noisy/numpy", "ci"), SPEC.tolerances)
    outside = expected.outside_epochs
    assert 0 not in outside and 9 in outside  # epoch 0 is unchanged by the rate
    err = capsys.readouterr().err
    assert f"leaves its 16-seed envelope at epoch(s) {epoch_ranges(outside)}" in err
    assert (root / "noisy" / "numpy" / "ci" / "trajectory.obtained.csv").exists()


def test_late_blow_up_past_the_golden_horizon_passes_it_but_leaves_the_envelope(root, capsys):
    assert run(["check", "noisy/numpy"], root, "LateBlowUpPort") == 0
    assert run(["check", "noisy/numpy", "--envelope"], root, "LateBlowUpPort") == 1
    captured = capsys.readouterr()
    assert "at epoch(s) 8-9" in captured.err
    row = [line for line in captured.out.splitlines() if "noisy/numpy" in line][-1]
    assert "REGRESSION" in row and "8-9" in row and "matches" in row


def test_check_envelope_without_one_is_exit_2_with_the_record_command(tmp_path, capsys):
    assert run(["check", "noisy/numpy", "--envelope"], tmp_path) == 2
    assert "rnn-harness record noisy/numpy --profile ci --seeds 32" in capsys.readouterr().err


@pytest.mark.parametrize("argv, needle", [
    (["record", "noisy/numpy", "--seeds", "1"], "at least 2 seeds"),
    (["record", "noisy/numpy", "--seeds", "4", "--seed", "3"], "exclude each other"),
    (["record", "noisy/numpy", "--seeds", "4", "--scheduler", "tcp://127.0.0.1:1"],
     "only applies to --executor dask"),
    (["record", "noisy/numpy", "--seeds", "4", "--executor", "dask", "--scheduler", "x:1"],
     "not a scheduler address"),
])
def test_bad_sweep_arguments_exit_2_and_write_nothing(tmp_path, capsys, argv, needle):
    assert run(argv, tmp_path) == 2
    err = capsys.readouterr().err
    assert needle in err and "Fix:" in err
    assert not list(tmp_path.rglob("envelope.*"))


def test_a_failed_seed_writes_no_envelope_and_names_the_seed(tmp_path, capsys):
    argv = ["record", "fake/numpy", "--profile", "ci", "--seeds", "4", "--workers", "0",
            "--golden-dir", str(tmp_path)]
    assert main(argv, registry_factory=crash_registry) == 1
    err = capsys.readouterr().err
    assert "1 of 4 runs failed" in err and "seed 3" in err and "PortCrashError" in err
    assert not list(tmp_path.rglob("envelope.*"))


# ---------------------------------------------------------------- the statistical verdict


def row_of(out, port="noisy/numpy"):
    """The table's first line for ``port`` (cells wrap onto the lines below it)."""
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if f" {port} " in line)
    return " ".join(lines[at:at + 3])


def test_the_same_port_is_the_same_distribution_with_p_one(root, capsys):
    assert run(["check", "noisy/numpy", "--envelope"], root) == 0
    row = row_of(capsys.readouterr().out)
    assert "same distribution (p = 1)" in row and "16 of 16" in row


def test_a_shift_inside_the_band_is_caught_by_the_outcomes(root, capsys):
    assert run(["check", "noisy/numpy", "--envelope"], root, "ShiftedPort") == 1
    captured = capsys.readouterr()
    row = row_of(captured.out)
    assert "inside" in row and "SHIFTED: shifted by +" in row  # the band alone passes it
    assert "are shifted by +" in captured.err and "Mann-Whitney" in captured.err
    assert "SHIFTED loss final: recorded median" in captured.err


def test_k_seeds_of_the_envelope_are_trained_and_named(root, capsys):
    assert run(["check", "noisy/numpy", "--envelope", "--seeds", "4"], root) == 0
    assert "4 of 16" in row_of(capsys.readouterr().out)


@pytest.mark.parametrize("argv, needle", [
    (["check", "noisy/numpy", "--envelope", "--seeds", "17"], "valid range: 2..16"),
    (["check", "noisy/numpy", "--seeds", "4"], "apply to check --envelope only"),
])
def test_bad_check_seeds_exit_2(root, capsys, argv, needle):
    assert run(argv, root) == 2
    assert needle in capsys.readouterr().err


def test_an_old_envelope_says_re_record_and_keeps_its_band_verdict(root, capsys):
    path = root / "noisy" / "numpy" / "ci" / "envelope.json"
    meta = json.loads(path.read_text())
    del meta["outcomes"], meta["outcomes_sha256"]
    path.write_text(json.dumps(meta))
    assert run(["check", "noisy/numpy", "--envelope"], root, "ShiftedPort") == 0
    captured = capsys.readouterr()
    assert "not tested (re-record the envelope)" in row_of(captured.out)
    assert "re-record the envelope for the statistical verdict: rnn-harness record " \
           "noisy/numpy --profile ci --seeds 16" in " ".join(captured.err.split())
    assert run(["check", "noisy/numpy", "--envelope"], root, "LateBlowUpPort") == 1


def run_two(argv, root):
    """The noisy port and a second one (noisy/numpy-other) that has no envelope."""
    return main([*argv, "--golden-dir", str(root)],
                registry_factory=lambda: registry_of("NoisyPort", "other"))


def test_all_skips_ports_without_an_envelope_and_checks_the_rest(root, capsys):
    assert run_two(["check", "--all", "--envelope"], root) == 0
    out = capsys.readouterr().out
    assert "same distribution" in row_of(out)
    skipped = row_of(out, "noisy/numpy-other")
    assert "skipped" in skipped and "no envelope" in skipped


def test_all_with_no_envelope_anywhere_checked_nothing(tmp_path, capsys):
    assert run_two(["check", "--all", "--envelope"], tmp_path) == 2
    assert "Nothing was checked: no selected port has a seed envelope" in capsys.readouterr().err
    assert run_two(["check", "--all", "--envelope", "--allow-empty"], tmp_path) == 0


def test_a_named_port_without_an_envelope_is_still_an_error(root, capsys):
    assert run_two(["check", "noisy/numpy-other", "--envelope"], root) == 2
    assert "--seeds 32" in capsys.readouterr().err


def test_a_log_gets_progress_lines_where_a_terminal_gets_bars(tmp_path, capsys):
    """Under pytest stderr is not a terminal, as in a CI log: a long record must still say
    how far it is, one line per 10 % of a run's epochs and one per finished sweep job."""
    assert run(["record", "noisy/numpy"], tmp_path) == 0
    lines = [line for line in capsys.readouterr().err.splitlines()
             if line.startswith("progress: ")]
    assert [line.split(", ")[0] for line in lines] == [
        f"progress: record noisy/numpy (ci): epoch {n}/10" for n in range(1, 10)]
    assert run(["record", "noisy/numpy", "--seeds", "3", "--workers", "0"], tmp_path) == 0
    lines = [line for line in capsys.readouterr().err.splitlines()
             if line.startswith("progress: ")]
    assert len(lines) == 3 and all(" done (" in line for line in lines), lines
    assert all(f"seed {s}," in line for s, line in zip(range(3), sorted(lines), strict=True))
