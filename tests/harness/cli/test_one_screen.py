"""A failure on one screen (issue 20 s3): a failing port's verdict, first divergence and
where to look in a few lines (``-v`` for every epoch), a table figure in units of the
tolerance naming the quantity, port ids whole at 80 columns, skips whose fix works here,
no abbreviated options. The toy (tests/harness/interface/toy.py) has checkpoint segments."""

from __future__ import annotations

import dataclasses
import io
import os
import re
import subprocess
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from harness.check import CheckResult, check_segments, resolve
from harness.cli import build_parser, main
from harness.compare import max_rel
from harness.golden import GoldenStore, read_segments, write_segments
from harness.golden import _segments as segment_files
from harness.interface import Tolerance
from harness.registry import PortEntry, Registry
from tests.fakes import SPEC, FakePort
from tests.harness.cli.faulty_ports import registry_of
from tests.harness.test_calibrate import Toy32

TOY = "tests.harness.test_calibrate:TOY_SPEC"
REPO = Path(__file__).resolve().parents[3]


class DriftToy(Toy32):
    """The toy with a 1 % larger learning rate: its run and every segment move."""

    def build(self, config, seed, device, data):  # type: ignore[no-untyped-def]
        super().build(replace(config, lr=config.lr * 1.01), seed, device, data)


class OutputPort(FakePort):
    """Every epoch equal to the fake's; only its output ``w`` moves (by 1e-6 relative)."""

    def outputs(self):  # type: ignore[no-untyped-def]
        return {"w": (self.w * (1 + 1e-6)).tolist()}


OUT_SPEC = replace(SPEC, tolerances={"default": Tolerance(rtol=1e-9),
                                     "output:w": Tolerance(rtol=1e-9)})


def toy_registry(target: str = "tests.harness.test_calibrate:Toy32") -> Registry:
    return Registry([PortEntry("toy", "numpy", "", target)], {"toy": TOY})


drift_registry = partial(toy_registry, "tests.harness.cli.test_one_screen:DriftToy")


def output_registry(target: str = "tests.fakes:FakePort") -> Registry:
    return Registry([PortEntry("fake", "numpy", "", target)],
                    {"fake": "tests.harness.cli.test_one_screen:OUT_SPEC"})


def run(argv, golden, registry) -> int:
    return main([*argv, "--golden-dir", str(golden)], registry_factory=registry)


@pytest.fixture(scope="module")
def toy_golden(tmp_path_factory):
    golden = tmp_path_factory.mktemp("toy")
    assert run(["record", "toy/numpy", "--profile", "tutorial"], golden, toy_registry) == 0
    assert run(["record", "toy/numpy", "--profile", "ci"], golden, toy_registry) == 0
    return golden


@pytest.fixture
def printed(monkeypatch) -> io.StringIO:
    """What the check prints about each port (not its progress), one line per line."""
    from harness.cli import _gating

    stream = io.StringIO()
    monkeypatch.setattr(_gating, "err", Console(file=stream, width=10_000, markup=False))
    return stream


def cells(out: str, port: str, profile: str) -> list[str]:
    """The check table row of ``port`` at ``profile`` (its first line), cell by cell."""
    for line in out.splitlines():
        found = [c.strip() for c in line.strip("│ ").split("│")]
        if found[:2] == [port, profile]:
            return found
    raise AssertionError(f"no row {port} {profile} in\n{out}")


def test_a_failing_port_fits_one_screen_and_verbose_prints_every_epoch(toy_golden, printed):
    argv = ["check", "toy/numpy", "--profile", "ci"]
    assert run(argv, toy_golden, drift_registry) == 1
    text = printed.getvalue()
    assert len(text.splitlines()) <= 15, text
    assert "first divergent epoch 0" in text and "first divergent: segment from epoch 4" in text
    assert "and 1 more segment (first divergent epochs: 8)" in text
    assert "-v` prints every epoch" in text and "epoch    obtained" not in text
    printed.truncate(0)
    assert run([*argv, "-v"], toy_golden, drift_registry) == 1
    full = printed.getvalue()
    assert "first divergent: segment from epoch 8" in full  # every failed segment
    rows = re.findall(r"^(\d+) +\S+ +\S+ +\S+ +\S+ +(off|ok)$", full, re.M)
    assert [int(e) for e, _ in rows] == [0, 1, 2, 3] * (len(rows) // 4) and rows, full
    assert "DIVERGED" not in full  # nothing went NaN: the rows say off


def test_the_table_figure_is_the_error_over_its_tolerance_naming_the_quantity(toy_golden,
                                                                             capsys):
    assert run(["check", "toy/numpy", "--profile", "ci"], toy_golden, drift_registry) == 1
    out = capsys.readouterr().out
    assert "worst / tol" in out and "max rel err" not in out
    run_row = cells(out, "toy/numpy", "ci")
    assert run_row[2] == "REGRESSION"
    ratio, quantity = run_row[4].split(" ", 1)
    assert float(ratio) > 1 and quantity  # named: the column or output that left most
    segment_row = cells(out, "toy/numpy", "tutorial segments")
    ratio, quantity = segment_row[4].split(" ", 1)
    # update_norm 0.0435249 vs golden 0.043094 under rtol 5e-4: (0.00043 / 2.2e-5) ~ 20
    assert quantity == "step update_norm" and 10 < float(ratio) < 30, segment_row


def test_an_outputs_only_failure_names_the_output_and_its_ratio(tmp_path, capsys):
    assert run(["record", "fake/numpy", "--profile", "ci"], tmp_path, output_registry) == 0
    moved = partial(output_registry, "tests.harness.cli.test_one_screen:OutputPort")
    assert run(["check", "fake/numpy", "--profile", "ci"], tmp_path, moved) == 1
    row = cells(capsys.readouterr().out, "fake/numpy", "ci")
    ratio, quantity = row[4].split(" ", 1)
    assert row[2] == "REGRESSION" and quantity.startswith("output w[") and float(ratio) > 100


def test_a_nan_in_a_checkpoint_shows_nan_not_zero(toy_golden, tmp_path, capsys, monkeypatch):
    golden = tmp_path / "golden"
    import shutil

    shutil.copytree(toy_golden, golden)
    store = GoldenStore(golden)
    segments = read_segments(store, "toy/numpy", "tutorial")
    arrays = dict(segments[1].checkpoint.arrays)
    arrays["param/W_hh"] = arrays["param/W_hh"].copy()
    arrays["param/W_hh"][0, 0] = np.nan
    segments[1] = dataclasses.replace(
        segments[1], checkpoint=dataclasses.replace(segments[1].checkpoint, arrays=arrays))
    # the writer refuses a NaN (it cannot prove the float32 cast exact): write it anyway
    monkeypatch.setattr(segment_files, "_float32",
                        lambda a, port: {k: np.asarray(v, np.float32) for k, v in a.items()})
    meta = store.read("toy/numpy", "tutorial").meta
    write_segments(store, "toy/numpy", "tutorial", segments,
                   {"seed": meta["seed"], "config_hash": meta["config_hash"]})
    assert run(["check", "toy/numpy", "--profile", "ci"], golden, toy_registry) == 1
    row = cells(capsys.readouterr().out, "toy/numpy", "tutorial segments")
    assert row[4].startswith("NaN "), row


def test_max_rel_counts_a_missing_row_and_a_nan_as_nan():
    expected = {"loss": np.array([1.0, 2.0, 3.0])}
    assert np.isnan(max_rel({"loss": np.array([1.0, 2.0])}, expected)["loss"])
    assert np.isnan(max_rel({"loss": np.array([1.1, np.nan, 3.0])}, expected)["loss"])
    assert max_rel({"loss": np.array([1.0, 2.0, 3.0])}, expected)["loss"] == 0.0


LONG = {"concise-a": "", "concise-b": ""}


def test_port_ids_are_whole_in_an_80_column_terminal(tmp_path, capsys, monkeypatch):
    from harness.cli import _commands

    ports = partial(registry_of, **LONG)
    assert run(["record", "--all", "--profile", "ci", "--workers", "1"], tmp_path, ports) == 0
    narrow = Console(file=io.StringIO(), width=80, highlight=False, markup=False)
    monkeypatch.setattr(_commands, "out", narrow)
    assert run(["check", "--all", "--profile", "ci", "--workers", "1"], tmp_path, ports) == 0
    table = narrow.file.getvalue()
    assert max(len(line) for line in table.splitlines()) <= 80, table
    for port in ("fake/numpy", "fake/numpy-concise-a", "fake/numpy-concise-b"):
        assert re.search(rf"│ {re.escape(port)} +│", table), table


def test_columns_sets_the_width_where_output_is_not_a_terminal(tmp_path):
    """``COLUMNS=80 rnn-harness check ... | less``: the table fits 80 columns, ids whole."""
    ports = partial(registry_of, **LONG)
    assert run(["record", "--all", "--profile", "ci", "--workers", "1"], tmp_path, ports) == 0
    child = ("import sys; from functools import partial; from harness.cli import main; "
             "from tests.harness.cli.faulty_ports import registry_of; "
             f"sys.exit(main(['check', '--all', '--profile', 'ci', '--workers', '1', "
             f"'--golden-dir', {str(tmp_path)!r}], registry_factory=partial(registry_of, "
             f"**{LONG!r})))")
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", child], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in done.stdout.splitlines()) <= 80, done.stdout
    assert "fake/numpy-concise-b" in done.stdout


def test_a_jax_port_skipped_beside_mxnet_names_its_tox_env(tmp_path, capsys, monkeypatch):
    from harness import backends
    from harness import registry as registry_mod

    here = {"numpy", "mxnet"}  # the main job's env: MXNet pins numpy below 1.24
    monkeypatch.setattr(backends, "framework_available", lambda fw: fw in here)
    monkeypatch.setattr(registry_mod, "framework_available", lambda fw: fw in here)

    def with_jax() -> Registry:
        return Registry([PortEntry("fake", "numpy", "", "tests.fakes:FakePort"),
                         PortEntry("fake", "jax", "", "tests.fakes:FakePort")],
                        {"fake": "tests.fakes:SPEC"})

    assert run(["record", "fake/numpy", "--profile", "ci"], tmp_path, with_jax) == 0
    assert run(["check", "--all", "--profile", "ci"], tmp_path, with_jax) == 0
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "needs the jax tox env (JAX cannot share an environment with MXNet)" in out
    assert "pip install 'rnn-harness[jax]'" not in out


@pytest.mark.parametrize("argv", [
    ["check", "fake/numpy", "--seed", "3"],      # was read as --seeds 3
    ["check", "--all", "--no-seg"],              # was read as --no-segments
    ["record", "fake/numpy", "--segments"],      # was read as --segments-only
    ["report", "--all", "--prof", "ci"],
])
def test_options_are_never_abbreviated(argv, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_fail_fast_stops_at_the_first_failure_with_the_same_exit_code(toy_golden, printed):
    argv = ["check", "toy/numpy", "--profile", "ci", "--fail-fast"]
    assert run(argv, toy_golden, drift_registry) == 1
    text = printed.getvalue()
    assert "first divergent epoch 0" in text
    assert "segment" not in text, text  # the run failed: no segment was replayed
    # the segments alone: replayed up to the first that fails, and a note says so
    req = resolve("toy/numpy", "ci", golden_dir=toy_golden, registry=drift_registry())
    every = check_segments(CheckResult(req)).segments
    first = check_segments(CheckResult(req), fail_fast=True)
    failed = [i for i, v in enumerate(every) if not v.passed]
    assert len(failed) >= 2, every  # else there is nothing to stop before
    assert [(v.start, v.divergence) for v in first.segments] == [
        (v.start, v.divergence) for v in every[:failed[0] + 1]]
    assert any("--fail-fast" in note for note in first.segment_notes)
