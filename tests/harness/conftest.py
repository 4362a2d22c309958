"""A small Dask LocalCluster on loopback, shared by the tests of one module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.sweep import WORKER_ENV


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    """The address (tcp://127.0.0.1:PORT) of a 2-process, 1-thread-each LocalCluster."""
    distributed = pytest.importorskip(
        "distributed", reason="install the dask extra: pip install 'rnn-harness[dask]'")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                  env=WORKER_ENV) as cluster:
        yield cluster.scheduler_address
