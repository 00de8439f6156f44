"""Rewind and reset re-read input and the sinks really write it again (numbers move forward)."""

from __future__ import annotations

from pathlib import Path

from odibi_stream.runtime.repair import reset, rewind
from tests.conftest import land, write_project
from tests.unit.runtime.helpers import csv_lines, delta_rows, runner

PIPE = """\
pipeline: orders
nodes:
  - name: raw
    read:
      connection: local
      format: csv
      path: landing/*.csv
      incremental: {mode: files, max_files_per_batch: 1, settle_seconds: 0}
    write: {connection: local, format: delta, path: lake/out, mode: append}
"""


def _ids(project: Path) -> list[int]:
    return sorted(r["id"] for r in delta_rows(project / "data" / "lake" / "out"))


def test_rewind_rereads_input_after_the_batch_and_sinks_write_it(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"orders": PIPE})
    for f in range(3):
        land(project / "data" / "landing", f"o{f}.csv", csv_lines(range(f * 10, f * 10 + 2)), age_seconds=30 - f)
    first = runner(project, "orders")
    assert len(first.run_available()) == 3
    assert rewind(first.live, first.log, 0) == 3
    again = runner(project, "orders").run_available()
    assert [r.batch for r in again] == [3, 4], "new numbers, so the Delta txn check lets them in"
    assert _ids(project) == [0, 1, 10, 10, 11, 11, 20, 20, 21, 21]


def test_reset_starts_every_source_over(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"orders": PIPE})
    land(project / "data" / "landing", "o.csv", csv_lines(range(3)))
    r = runner(project, "orders")
    r.run_available()
    assert reset(r.log) == 1
    assert [x.batch for x in runner(project, "orders").run_available()] == [1]
    assert _ids(project) == [0, 0, 1, 1, 2, 2]
