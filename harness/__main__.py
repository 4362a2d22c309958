"""``python -m harness`` runs the ``rnn-harness`` command line."""

import sys

from harness.cli import main

sys.exit(main())
