"""The comparison report: every port's run against its golden and against its reference
framework's run from the same initial weights, as Markdown, self-contained HTML and CSV.

Flow: ``collect_runs`` (train here) or ``load_runs`` (saved runs, one folder per
environment, merged) -> ``RunSet`` -> tables (``summary_table``, ``trajectory_table``) ->
``build_report`` -> ``write_report``; ``report_files`` does the last two. The golden status
of each run comes from the one gate routine (``harness.gate.gate``). pandas and
matplotlib (the ``report`` extra) are imported only inside the functions that need them.
``regression_message`` is the text the CLI and the pytest plugin print for a regression.
"""

from harness.report._display import display_summary, framework_matrix
from harness.report._environment import environment_table, reproduce_commands
from harness.report._messages import metric_table, regression_message
from harness.report._plots import plot_tutorial, wants_log_scale
from harness.report._render import (
    Report,
    build_report,
    render_html,
    render_markdown,
    report_files,
    require_report_extra,
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
    GoldenStatus,
    cross_comparison,
    cross_tolerances,
    golden_status,
    read_envelopes,
)
from harness.report._tables import (
    continuations_table,
    continuations_tables,
    summary_row,
    summary_table,
    trajectory_table,
)

__all__ = [
    "CROSS_DIR", "GoldenStatus", "Report", "RunFailure", "RunSet", "RunSource",
    "build_report", "collect_runs", "continuations_table", "continuations_tables",
    "cross_comparison", "cross_pairs", "cross_tolerances", "display_summary",
    "environment_table", "framework_matrix", "golden_status", "load_runs", "merge_runs",
    "metric_table", "plot_tutorial", "read_envelopes", "regression_message", "render_html",
    "render_markdown", "report_files", "reproduce_commands", "require_report_extra",
    "save_runs", "summary_row", "summary_table", "trajectory_table", "transfer_run",
    "wants_log_scale", "write_report",
]
