"""The CLI under faults and bad input: each ends in a one-paragraph error with the right exit
code (0 pass, 1 regression, 2 usage/input, 3 a crashed port) and the golden untouched."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from functools import partial
from pathlib import Path

import pytest

from harness.cli import build_parser, main
from harness.golden import GoldenStore, _codec
from tests.fakes import fake_registry
from tests.harness.cli import faulty_ports
from tests.harness.cli.faulty_ports import CRASH_TEXT, registry_of

REPO = Path(__file__).resolve().parents[3]


def run(argv, golden: Path, registry=fake_registry) -> int:
    return main([*argv, "--golden-dir", str(golden)], registry_factory=registry)


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def one_paragraph(err: str) -> None:
    assert "Traceback" not in err and "Fix:" in err


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize("seed", ["-1", str(2**40), str(2**32)])
def test_a_seed_numpy_cannot_take_exits_2_naming_the_range(tmp_path, capsys, seed):
    assert run(["record", "fake/numpy", "--profile", "ci", "--seed", seed], tmp_path) == 2
    err = capsys.readouterr().err
    one_paragraph(err)
    assert "--seed" in err and "0 .. 4294967295" in err and files(tmp_path) == {}


@pytest.mark.parametrize("argv", [
    ["check", "fake/numpy", "--workers", "-2"],
    ["check", "--all", "--workers", "-1"],
    ["record", "fake/numpy", "--workers", "-2"],
    ["check", "fake/numpy", "--executor", "dask", "--workers", "0"],
])
def test_a_worker_count_out_of_range_exits_2(tmp_path, capsys, argv):
    assert run([*argv, "--profile", "ci"], tmp_path) == 2
    err = capsys.readouterr().err
    one_paragraph(err)
    assert "--workers" in err and files(tmp_path) == {}


# ---------------------------------------------------------------- broken goldens


def test_a_meta_nested_200000_deep_exits_2(tmp_path, capsys):
    assert run(["record", "fake/numpy", "--profile", "ci"], tmp_path) == 0
    meta = GoldenStore(tmp_path).path("fake/numpy", "ci") / "meta.json"
    meta.write_text("[" * 200_000 + "]" * 200_000)
    assert run(["check", "fake/numpy", "--profile", "ci"], tmp_path) == 2
    err = capsys.readouterr().err
    one_paragraph(err)
    assert "nested too deep" in err and "RecursionError" not in err


def test_an_oversized_csv_exits_2_naming_the_limit(tmp_path, capsys):
    assert run(["record", "fake/numpy", "--profile", "ci"], tmp_path) == 0
    csv = GoldenStore(tmp_path).path("fake/numpy", "ci") / "trajectory.csv"
    with csv.open("ab") as fh:
        fh.truncate(_codec.SIZE_LIMITS[".csv"] + 1)
    assert run(["check", "fake/numpy", "--profile", "ci"], tmp_path) == 2
    err = capsys.readouterr().err
    one_paragraph(err)
    assert "past the store's limit of 64 MB" in err


# ---------------------------------------------------------------- report --out


@pytest.fixture
def no_training(monkeypatch):
    from harness.cli import _gating

    def trained(*args, **kwargs):
        raise AssertionError("trained before --out was checked")

    monkeypatch.setattr(_gating, "collect_ports", trained)


def test_report_out_naming_a_file_exits_2_before_training(tmp_path, capsys, no_training):
    target = tmp_path / "report.html"
    target.write_text("not a folder")
    assert run(["report", "fake/numpy", "--out", str(target)], tmp_path) == 2
    err = capsys.readouterr().err
    one_paragraph(err)
    assert "--out" in err and "is a file" in err
    assert target.read_text() == "not a folder"


def test_report_out_under_a_file_or_unwritable_exits_2(tmp_path, capsys, monkeypatch,
                                                       no_training):
    (tmp_path / "file").write_text("")
    assert run(["report", "--all", "--out", str(tmp_path / "file" / "sub")], tmp_path) == 2
    assert "is a file" in capsys.readouterr().err
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root ignores chmod
    assert run(["report", "--all", "--out", str(tmp_path / "new")], tmp_path) == 2
    assert "not writable" in capsys.readouterr().err


# ---------------------------------------------------------------- a port that crashes


def test_a_crashing_port_exits_3_and_check_all_returns_the_worst_code(tmp_path, capsys):
    recorded = partial(registry_of, crash="", drift="")
    assert run(["record", "--all", "--profile", "ci", "--workers", "1"], tmp_path,
               recorded) == 0
    before = files(tmp_path)
    crashing = partial(registry_of, crash="CrashingPort")
    assert run(["check", "fake/numpy-crash", "--profile", "ci"], tmp_path, crashing) == 3
    err = capsys.readouterr().err
    one_paragraph(err)
    assert "ValueError" in err and CRASH_TEXT in err  # printed as is, not as markup
    drifting = partial(registry_of, crash="CrashingPort", drift="tests.fakes:DriftedFakePort")
    # a crash (3) outranks a regression (1) and a pass (0)
    assert run(["check", "--all", "--profile", "ci", "--workers", "1"], tmp_path,
               drifting) == 3
    assert {k: v for k, v in files(tmp_path).items() if ".obtained." not in k} == before


def test_a_numerical_blow_up_in_the_loop_is_a_divergence_not_a_crash(tmp_path, capsys):
    """Issue 20: an OverflowError raised inside training (math.exp of a loss that blew up)
    is the numbers moving (exit 1, DIVERGED), not a bug in the port (exit 3)."""
    recorded = partial(registry_of, blowup="")
    assert run(["record", "fake/numpy-blowup", "--profile", "ci"], tmp_path, recorded) == 0
    blowing = partial(registry_of, blowup="OverflowingPort")
    assert run(["check", "fake/numpy-blowup", "--profile", "ci"], tmp_path, blowing) == 1
    captured = capsys.readouterr()
    assert "DIVERGED" in captured.out
    assert "Training diverged during training: OverflowError" in captured.err
    assert "bug in the port" not in captured.err


def test_a_record_that_fails_leaves_no_empty_golden_folder(tmp_path, capsys):
    crashing = partial(registry_of, crash="CrashingPort")
    assert run(["record", "fake/numpy-crash", "--profile", "ci"], tmp_path, crashing) == 3
    assert not (tmp_path / "fake" / "numpy-crash").exists()


def test_exit_code_3_is_documented_in_help(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["check", "--help"])
    text = capsys.readouterr().out
    assert "3  a port crashed" in text and "3 > 2 > 1 > 0" in text


def test_the_readme_documents_exit_code_3():
    readme = (REPO / "README.md").read_text()
    assert "| 3 |" in readme and "crash" in readme.split("| 3 |")[1].splitlines()[0]


# ---------------------------------------------------------------- two records at once


def test_a_second_record_of_the_same_golden_is_refused_naming_the_first(tmp_path, capsys):
    started, release = tmp_path / "started", tmp_path / "release"
    golden = tmp_path / "golden"
    child = textwrap.dedent(f"""
        import sys
        from harness.cli import main
        from tests.harness.cli.faulty_ports import blocking_registry
        sys.exit(main(["record", "fake/numpy", "--profile", "ci", "--golden-dir",
                       {str(golden)!r}], registry_factory=blocking_registry))
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO), faulty_ports.STARTED_ENV: str(started),
           faulty_ports.RELEASE_ENV: str(release)}
    first = subprocess.Popen([sys.executable, "-c", child], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not started.exists() and first.poll() is None:
            pass
        assert started.exists(), first.communicate()
        # the first is training, holding the lock: the second is refused at once
        assert run(["record", "fake/numpy", "--profile", "ci"], golden) == 2
        err = capsys.readouterr().err
        one_paragraph(err)
        assert f"pid {first.pid}" in err and "being written by another process" in err
    finally:
        release.touch()
        out, child_err = first.communicate(timeout=120)
    assert first.returncode == 0, child_err
    GoldenStore(golden).read("fake/numpy", "ci")  # the first one's golden, whole
    assert run(["check", "fake/numpy", "--profile", "ci"], golden) == 0


# ---------------------------------------------------------------- read-only golden folder


def test_a_read_only_golden_folder_keeps_the_regression_and_checks_the_next_port(
        tmp_path, capsys, monkeypatch):
    golden = tmp_path / "golden"
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr("tempfile.tempdir", None)
    assert run(["record", "--all", "--profile", "ci", "--workers", "1"], golden,
               partial(registry_of, drift="")) == 0
    before = files(golden)
    real = _codec.atomic_write

    def read_only(path: Path, data: bytes) -> None:
        if golden in path.parents:
            raise PermissionError(13, "Permission denied", str(path))
        real(path, data)

    monkeypatch.setattr(_codec, "atomic_write", read_only)
    code = run(["check", "--all", "--profile", "ci", "--workers", "1"], golden,
               partial(registry_of, drift="tests.fakes:DriftedFakePort"))
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert "first divergent epoch" in captured.err and "not writable" in captured.err
    assert "fake/numpy-drift" in captured.out and "pass" in captured.out
    assert files(golden) == before
    assert list((tmp_path / "tmp").rglob("trajectory.obtained.csv"))


# ---------------------------------------------------------------- the table


def test_error_rows_name_the_reason_and_the_detail_is_printed_once(tmp_path, capsys):
    recorded = partial(registry_of, a="", b="")
    assert run(["record", "--all", "--profile", "ci", "--workers", "1"], tmp_path,
               recorded) == 0
    capsys.readouterr()
    broken = partial(registry_of, a="NoCorpusPort", b="NoCorpusPort")
    assert run(["check", "--all", "--profile", "ci", "--workers", "1"], tmp_path, broken) == 2
    captured = capsys.readouterr()
    error_lines = [line for line in captured.out.splitlines() if "ERROR" in line]
    assert len(error_lines) == 2
    assert captured.out.count("The corpus file is missing.") == 2  # in each row
    assert captured.err.count("The corpus file is missing.") == 1  # the detail, once
    assert "ERROR in fake/numpy-a, fake/numpy-b:" in captured.err
    one_paragraph(captured.err)


def test_a_port_without_its_data_here_is_skipped_naming_the_fix(tmp_path, capsys):
    recorded = partial(registry_of, c="")
    assert run(["record", "--all", "--profile", "ci", "--workers", "1"], tmp_path,
               recorded) == 0
    capsys.readouterr()
    # a fresh clone without the corpus: the other ports are still gated, and it is green
    offline = partial(registry_of, c="NoCorpusHerePort")
    assert run(["check", "--all", "--profile", "ci", "--workers", "1"], tmp_path, offline) == 0
    captured = capsys.readouterr()
    row = next(line for line in captured.out.splitlines() if "fake/numpy-c" in line)
    assert "skipped" in row and "ERROR" not in captured.out
    assert "no corpus: Could not download" in captured.out
    assert "skipped fake/numpy-c:" in captured.err
    assert captured.err.count("set RNN_HARNESS_DATA") == 1  # the fix, once
    one_paragraph(captured.err.split("skipped fake/numpy-c:")[1])


def test_a_check_whose_only_port_lacks_its_data_checked_nothing(tmp_path, capsys):
    assert run(["record", "fake/numpy-c", "--profile", "ci"], tmp_path,
               partial(registry_of, c="")) == 0
    offline = partial(registry_of, c="NoCorpusHerePort")
    assert run(["check", "fake/numpy-c", "--profile", "ci", "--workers", "1"], tmp_path,
               offline) == 2
    assert "Nothing was checked" in capsys.readouterr().err


def _no_installed_framework(monkeypatch):
    from harness import registry as registry_mod
    from harness.cli import _commands
    from harness.registry import PortEntry, Registry

    for module in (registry_mod, _commands):
        monkeypatch.setattr(module, "framework_available", lambda fw: False)
    return lambda: Registry([PortEntry("fake", "torch", "", "tests.fakes:FakePort")],
                            {"fake": "tests.fakes:SPEC"})


def test_check_all_that_checked_nothing_exits_2(tmp_path, capsys, monkeypatch):
    registry = _no_installed_framework(monkeypatch)
    assert run(["check", "--all", "--profile", "ci"], tmp_path, registry) == 2
    captured = capsys.readouterr()
    assert "Nothing was checked" in captured.err and "--allow-empty" in captured.err
    assert "pip install 'rnn-harness[torch]'" in captured.out  # brackets kept, no markup


def test_check_all_with_allow_empty_exits_0_saying_nothing_was_checked(tmp_path, capsys,
                                                                       monkeypatch):
    registry = _no_installed_framework(monkeypatch)
    assert run(["check", "--all", "--profile", "ci", "--allow-empty"], tmp_path, registry) == 0
    assert "nothing was checked" in capsys.readouterr().err


def test_list_prints_ids_and_extras_as_written(tmp_path, capsys, monkeypatch):
    registry = _no_installed_framework(monkeypatch)
    assert main(["list"], registry_factory=registry) == 0
    assert "no: pip install 'rnn-harness[torch]'" in capsys.readouterr().out
