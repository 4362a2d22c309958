"""The comparison report: every port's run against its golden and against its reference
framework's run from the same initial weights, as Markdown, self-contained HTML and CSV.

Flow: ``collect_runs`` (train here) or ``load_runs`` (saved runs, one folder per
environment, merged) -> ``RunSet`` -> tables (``summary_table``, ``trajectory_table``) ->
``build_report`` -> ``write_report``; ``report_files`` does the last two. The golden status
of each run comes from the one gate routine (``harness.check.check_request``). pandas and
matplotlib (the ``report`` extra) are imported only inside the functions that need them.
``regression_message`` is the text the CLI and the pytest plugin print for a regression.
Every status has a symbol and a CSS class (``STATUSES``); failures are listed first.
"""

from harness.report._display import (
    display_classes,
    display_summary,
    framework_matrix,
    matrix_classes,
    plain_text,
)
from harness.report._envelope_text import (
    epoch_ranges,
    outcome_message,
    rerecord_note,
    verdict_message,
)
from harness.report._environment import environment_table, reproduce_commands
from harness.report._failures import Failure, collect_failures
from harness.report._messages import (
    check_message,
    comparison_lines,
    metric_table,
    regression_message,
)
from harness.report._plots import Mark, plot_tutorial, tutorial_figure, wants_log_scale
from harness.report._render import (
    Report,
    build_report,
    md_escape,
    render_html,
    render_markdown,
    report_files,
    require_report_extra,
    verdict_line,
    write_report,
)
from harness.report._runs import (
    CROSS_DIR,
    RunFailure,
    RunSet,
    RunSource,
    collect_runs,
    cross_pairs,
    transfer_run,
)
from harness.report._saved import load_runs, merge_runs, save_runs
from harness.report._status import (
    STATUSES,
    GoldenStatus,
    StatusStyle,
    cross_comparison,
    cross_tolerances,
    failure_status,
    golden_status,
    read_envelopes,
    status_style,
)
from harness.report._tables import (
    continuations_table,
    continuations_tables,
    summary_row,
    summary_table,
    trajectory_table,
)

__all__ = [
    "epoch_ranges", "outcome_message", "rerecord_note", "verdict_message",
    "CROSS_DIR", "STATUSES", "Failure", "GoldenStatus", "Mark", "Report", "RunFailure",
    "RunSet", "RunSource", "StatusStyle", "build_report", "collect_failures", "collect_runs",
    "comparison_lines", "continuations_table", "continuations_tables", "cross_comparison",
    "cross_pairs", "cross_tolerances", "display_classes", "display_summary",
    "environment_table", "failure_status", "framework_matrix", "golden_status", "load_runs",
    "matrix_classes", "md_escape", "merge_runs", "metric_table", "plain_text", "plot_tutorial",
    "read_envelopes", "regression_message", "check_message", "render_html", "render_markdown",
    "report_files",
    "reproduce_commands", "require_report_extra", "save_runs", "status_style", "summary_row",
    "summary_table", "trajectory_table", "transfer_run", "tutorial_figure", "verdict_line",
    "wants_log_scale", "write_report",
]
