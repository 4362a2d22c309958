"""The ``rnn-harness`` command line: argparse and printing over the gate, the sweeps and
the report (``_app``: parser and ``main``; ``_commands``/``_sweeps``: the commands)."""

from harness.cli._app import EXIT_CODES, build_parser, main

__all__ = ["EXIT_CODES", "build_parser", "main"]
