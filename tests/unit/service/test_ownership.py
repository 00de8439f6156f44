"""One-shot runs respect leases: they never process a pipeline another process owns."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from odibi_stream.api import Runtime
from odibi_stream.checkpoints.lease import Lease
from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.loader import load_project
from odibi_stream.core.clock import ManualClock
from odibi_stream.exceptions import LeaseLost
from tests.conftest import land, write_project
from tests.unit.runtime.helpers import csv_lines
from tests.unit.service.runtime_projects import wait_for

PIPE = """\
pipeline: orders
nodes:
  - name: raw
    read: {connection: local, format: csv, path: landing/*.csv,
           incremental: {mode: files, settle_seconds: 0}}
    write: {connection: local, format: parquet, path: lake/out}
"""


def test_run_once_waits_for_a_held_lease_then_fails_without_processing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    project = load_project(write_project(tmp_path / "p", {"orders": PIPE}))
    land(project.root / "data" / "landing", "a.csv", csv_lines(range(3)))
    clock = ManualClock()
    other = Lease(CheckpointManager.open(project.checkpoint).store, "orders", "daemon-elsewhere", 30, clock)
    assert other.try_acquire()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            Runtime(project, clock=clock).run_once("orders", wait=5)
        except LeaseLost as exc:
            outcome.append(exc)

    caplog.set_level(logging.WARNING, "odibi_stream.service.ownership")
    runner = threading.Thread(target=run)
    runner.start()
    wait_for(lambda: clock.waiters == 1, 10, "the run waits for the lease")
    # It says at once who holds the lease and until when, before waiting in silence.
    assert "held by daemon-elsewhere until 2026-01-01T00:00:30+00:00" in caplog.text
    clock.advance(4.9)
    wait_for(lambda: clock.waiters == 1 and len(clock.requested) > 1, 10, "still waiting")
    assert not outcome
    clock.advance(0.2)
    runner.join(10)
    assert outcome and "owned by daemon-elsewhere until" in str(outcome[0])
    assert not (project.root / "data" / "lake" / "out").exists()
    other.release()
    results = Runtime(project).run_once("orders", wait=0.5)
    assert [r.rows_in for r in results] == [3]
    # the run released its lease: a daemon can take over at once
    assert Lease(CheckpointManager.open(project.checkpoint).store, "orders", "daemon", 30).try_acquire()
