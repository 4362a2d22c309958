"""The report read at a glance (harness/report/_render.py, _display.py, _status.py): a symbol
and a colour per golden status, every failure listed first, the tutorial x framework matrix
before the long table, data escaped for Markdown and HTML, numbers printed plainly."""

from __future__ import annotations

import pytest

pytest.importorskip("pandas", reason="install the report extra: pip install 'rnn-harness[report]'")
pytest.importorskip("matplotlib",
                    reason="install the report extra: pip install 'rnn-harness[report]'")

import re  # noqa: E402

from harness.report import (  # noqa: E402
    RunFailure,
    build_report,
    collect_runs,
    framework_matrix,
    render_html,
    render_markdown,
    summary_table,
)
from tests.harness.report.conftest import CRASH_TEXT  # noqa: E402


@pytest.fixture
def report(failing):  # type: ignore[no-untyped-def]
    runs, store, registry = failing
    return build_report(runs, store, registry)


def _section(md: str, title: str) -> str:
    """The Markdown between the heading that starts with ``title`` and the next ``## ``."""
    start = md.index(title)
    end = md.find("\n## ", start + 1)
    return md[start:] if end < 0 else md[start:end]


def test_each_status_has_its_symbol_in_markdown(report):
    md = render_markdown(report)
    table = _section(md, "## Summary")
    assert "\u2714 pass" in table
    assert "\u2716 REGRESSION from epoch 1" in table
    assert "\u2716 DIVERGED at epoch 2" in table
    assert "\u2716 ERROR" in table
    # the legend says what each symbol means
    assert "\u2714 pass" in md.split("## ")[0] and "\u25cb no golden" in md.split("## ")[0]


def test_each_status_cell_has_its_css_class_and_the_class_a_colour(report):
    page = render_html(report)
    cells = dict(re.findall(r'<td class="([a-z -]+)">(\u2714|\u2716)', page))
    for css in ("pass", "regression", "diverged", "error"):
        assert css in cells, f"no <td class=\"{css}\"> in the page"
        assert re.search(rf"td\.{css}\b[^{{]*\{{[^}}]*background: #", page), css
    # a regression and a pass are not styled alike (the old page styled both as plain text)
    assert _rule(page, "regression") != _rule(page, "pass")


def _rule(page: str, css: str) -> str:
    found = re.search(rf"table td\.{css}\b[^{{]*\{{([^}}]*)\}}", page)
    assert found, f"no CSS rule for td.{css}"
    return found.group(1)


def test_failures_come_first_and_list_regressions_divergences_and_errors(report):
    md = render_markdown(report)
    assert md.index("Failures") < md.index("## Summary") < md.index("## Trajectories")
    failures = _section(md, "## \u2716 Failures")
    listed = [line for line in failures.splitlines() if line.startswith("- ")]
    assert [re.search(r"\*\*(.+?)\*\* (\S+)", line).groups() for line in listed] == [
        ("REGRESSION", "fake/numpy-drift"), ("DIVERGED", "fake/numpy-nan"),
        ("ERROR", "fake/numpy-crash"),
        ("OUTSIDE cross-framework tolerance", "fake/numpy-drift")]
    assert "first divergent epoch 1" in listed[0] and "loss=nan at epoch 2" in listed[1]
    # the regression's detail: obtained against expected from the first divergent epoch
    assert re.search(r"^1 +4\.0972\d+ +4\.1105\d+ .* off$", failures, re.M)
    page = render_html(report)
    assert page.index("Failures (4)") < page.index("<h2>Summary</h2>")


def test_a_report_without_failures_says_so_and_lists_none(store, registry):
    runs = collect_runs(["fake/numpy"], "ci", registry=registry, golden=store, pairs=[])
    md = render_markdown(build_report(runs, store, registry))
    assert "Failures" not in md
    assert "\u2714 No failure: \u2714 1 pass (1 run)." in md.split("## ")[0]


def test_matrix_precedes_the_long_table_and_shows_status_and_distance(report):
    matrix = framework_matrix(report.summary).set_index("tutorial")
    assert matrix.loc["fake (drift)", "numpy"] == (
        "\u2716 REGRESSION from epoch 1 \u00b7 "
        f"{report.summary.set_index('port').loc['fake/numpy-drift', 'cross max rel diff']:.2g}"
        " from numpy (OUTSIDE rtol 1e-09)")
    page = render_html(report)
    assert page.index('<table class="matrix">') < page.index('<table class="summary">')
    row = re.search(r"<tr><td>fake \(drift\)</td><td class=\"([^\"]+)\">", page)
    assert row and set(row.group(1).split()) == {"regression", "cross-outside"}


def test_error_rows_carry_their_short_reason(report):
    row = report.summary.set_index("port").loc["fake/numpy-crash"]
    assert row["golden"] == "ERROR" and "RuntimeError" in row["golden note"]
    assert row["epochs"] == 1  # the epoch it finished before it raised


def test_markup_in_data_is_escaped_in_markdown_tables(report):
    md = render_markdown(report)
    rows = [line for line in _section(md, "## Summary").splitlines()
            if line.startswith("| fake/")]
    widths = {len(re.findall(r"(?<!\\)\|", line)) for line in rows}
    assert len(rows) == 4 and len(widths) == 1  # a '|' in a message splits no cell
    crash = next(line for line in rows if "numpy-crash" in line)
    assert r"\<b\>bold\<\/b\>" in crash or r"\<b\>bold\</b\>" in crash
    assert r"\[torch\]" in crash and r"\*stars\*" in crash and r"\`tick\`" in crash


def test_markup_in_data_is_escaped_in_html(report):
    page = render_html(report)
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page


def test_a_detail_holding_backticks_cannot_close_its_code_block(failing):
    runs, store, registry = failing
    runs.failures.append(RunFailure("fake/numpy", "cpu", "run", "odd\n```\n# not a heading"))
    md = render_markdown(build_report(runs, store, registry))
    block = re.search(r"^(`{4,})text\nodd\n```\n# not a heading\n\1$", md, re.M)
    assert block, "the detail's ``` closed its fence"


def test_numpy_scalar_reprs_print_as_plain_numbers(failing):
    """numpy >= 2 writes np.float64(2.83) where numpy 1 wrote 2.83 (in a message's list
    or repr): the report prints the number."""
    runs, store, registry = failing
    report = build_report(runs, store, registry)
    assert CRASH_TEXT in "\n".join(f.message for f in runs.failures)
    for text in (render_markdown(report), render_html(report)):
        assert "np.float64" not in text
        assert "2.83" in text


def test_summary_golden_note_of_a_missing_golden_names_the_record_command(runs, store,
                                                                        registry):
    note = summary_table(runs, store, registry).set_index("port").loc[
        "fake/numpy-drift", "golden note"]
    assert note == "record one: rnn-harness record fake/numpy-drift --profile ci"
