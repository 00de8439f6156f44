"""One-shot runs respect leases: they never process a pipeline another process owns."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from odibi_stream.checkpoints.lease import Lease
from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.loader import load_project
from odibi_stream.exceptions import LeaseLost
from odibi_stream.runtime.api import Runtime
from tests.conftest import land, write_project
from tests.unit.runtime.helpers import csv_lines

PIPE = """\
pipeline: orders
nodes:
  - name: raw
    read: {connection: local, format: csv, path: landing/*.csv,
           incremental: {mode: files, settle_seconds: 0}}
    write: {connection: local, format: parquet, path: lake/out}
"""


def test_run_once_waits_for_a_held_lease_then_fails_without_processing(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path / "p", {"orders": PIPE}))
    land(project.root / "data" / "landing", "a.csv", csv_lines(range(3)))
    other = Lease(CheckpointManager.open(project.checkpoint).store, "orders", "daemon-elsewhere", 30)
    assert other.try_acquire()
    t0 = time.monotonic()
    with pytest.raises(LeaseLost, match="owned by another process"):
        Runtime(project).run_once("orders", wait=0.5)
    assert time.monotonic() - t0 >= 0.5
    assert not (project.root / "data" / "lake" / "out").exists()
    other.release()
    results = Runtime(project).run_once("orders", wait=0.5)
    assert [r.rows_in for r in results] == [3]
    # the run released its lease: a daemon can take over at once
    assert Lease(CheckpointManager.open(project.checkpoint).store, "orders", "daemon", 30).try_acquire()
