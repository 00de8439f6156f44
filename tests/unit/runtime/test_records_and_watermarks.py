"""Bad records, checks, watermarks and column high-water marks through the whole protocol."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from tests.conftest import land, write_project
from tests.unit.runtime.helpers import delta_rows, runner


def test_bad_rows_and_failed_checks_go_to_dead_letter_and_good_rows_land(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "p",
        {
            "o": """\
            pipeline: o
            on_error: dead_letter
            dead_letter: {connection: local, path: lake/dlq, format: delta}
            nodes:
              - name: raw
                read: {connection: local, format: jsonl, path: in/*.jsonl,
                       incremental: {mode: files, settle_seconds: 0}}
                checks: [{name: positive, expr: "amount > 0"}]
              - name: out
                depends_on: [raw]
                write: {connection: local, format: delta, path: lake/out}
            """
        },
    )
    land(project / "data" / "in", "a.jsonl", '{"id": 1, "amount": 5}\n{"id": 2, "amount": -1}\n{oops\n{"id": 3, "amount": 7}\n')
    result = runner(project, "o").run_batch()
    assert result is not None and result.rejected == 2
    assert sorted(r["id"] for r in delta_rows(project / "data" / "lake" / "out")) == [1, 3]
    dead = delta_rows(project / "data" / "lake" / "dlq")
    assert len(dead) == 2
    errors = sorted(d["_odibi_error"] for d in dead)
    assert any("positive" in e for e in errors)
    assert all(d["_odibi_batch"] == 0 and d["_odibi_node"] == "raw" for d in dead)
    assert any("a.jsonl" in d["_odibi_source"] for d in dead)
    assert any("oops" in d["_odibi_record"] for d in dead)


def test_skip_policy_drops_and_counts(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "p",
        {
            "o": """\
            pipeline: o
            on_error: skip
            nodes:
              - name: raw
                read: {connection: local, format: jsonl, path: in/*.jsonl,
                       incremental: {mode: files, settle_seconds: 0}}
                write: {connection: local, format: parquet, path: lake/out}
            """
        },
    )
    land(project / "data" / "in", "a.jsonl", '{"id": 1}\nnope\n{"id": 2}\n')
    result = runner(project, "o").run_batch()
    assert result is not None and result.rejected == 1 and result.rows_out == 2


WM = """\
pipeline: w
dead_letter: {connection: local, path: lake/late, format: delta}
nodes:
  - name: ev
    read:
      connection: local
      format: jsonl
      path: in/*.jsonl
      options: {schema: {id: int64, ts: timestamp}}
      incremental: {mode: files, max_files_per_batch: 1, settle_seconds: 0}
      watermark: {column: ts, delay: 10m, late: dead_letter}
    write: {connection: local, format: delta, path: lake/ev}
"""


def _ev(i: int, minute: int) -> str:
    return f'{{"id": {i}, "ts": "2026-01-01T00:{minute:02d}:00Z"}}\n'


def test_watermark_advances_at_commit_and_late_rows_are_routed(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"w": WM})
    inbox = project / "data" / "in"
    land(inbox, "1.jsonl", _ev(1, 30) + _ev(2, 40), age_seconds=30)
    # watermark after batch 0 = 00:40 - 10m = 00:30
    land(inbox, "2.jsonl", _ev(3, 29) + _ev(4, 30) + _ev(5, 45), age_seconds=20)
    r = runner(project, "w")
    first = r.run_batch()
    assert first is not None and first.late == 0
    assert first.watermarks["ev"] == datetime(2026, 1, 1, 0, 30, tzinfo=timezone.utc)
    second = r.run_batch()
    assert second is not None
    assert second.late == 1, "00:29 is late; 00:30 is exactly at the watermark and on time"
    ids = sorted(x["id"] for x in delta_rows(project / "data" / "lake" / "ev"))
    assert ids == [1, 2, 4, 5]
    late = delta_rows(project / "data" / "lake" / "late")
    assert [x["_odibi_batch"] for x in late] == [1] and '"id":3' in late[0]["_odibi_record"].replace(" ", "")
    assert second.watermarks["ev"] == datetime(2026, 1, 1, 0, 35, tzinfo=timezone.utc)
    # A restarted process recovers the committed watermark, not a re-computed one.
    assert runner(project, "w").status()["watermarks"]["ev"] == datetime(2026, 1, 1, 0, 35, tzinfo=timezone.utc)


COL = """\
pipeline: c
nodes:
  - name: src
    read:
      connection: local
      format: delta
      path: lake/src
      incremental: {mode: column, column: updated_at}
  - name: copy
    depends_on: [src]
    write: {connection: local, format: delta, path: lake/copy, mode: merge, merge_keys: [id]}
"""


def test_column_high_water_mark_reads_each_change_once(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"c": COL})
    src = str(project / "data" / "lake" / "src")
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def put(rows: list[tuple[int, str, int]]) -> None:
        table = pa.table(
            {
                "id": pa.array([r[0] for r in rows], pa.int64()),
                "v": pa.array([r[1] for r in rows]),
                "updated_at": pa.array([t0 + timedelta(minutes=r[2]) for r in rows], pa.timestamp("us", tz="UTC")),
            }
        )
        write_deltalake(src, table, mode="append")

    put([(1, "a", 1), (2, "b", 2)])
    r = runner(project, "c")
    assert [x.rows_in for x in r.run_available()] == [2]
    put([(2, "b2", 3), (3, "c", 3)])
    again = runner(project, "c").run_available()
    assert [x.rows_in for x in again] == [2], "only rows above the high-water mark are read"
    rows = {x["id"]: x["v"] for x in DeltaTable(str(project / "data" / "lake" / "copy")).to_pyarrow_table().to_pylist()}
    assert rows == {1: "a", 2: "b2", 3: "c"}


def test_after_read_archive_happens_only_after_commit(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "p",
        {
            "a": """\
            pipeline: a
            nodes:
              - name: raw
                read: {connection: local, format: jsonl, path: in/*.jsonl,
                       incremental: {mode: files, settle_seconds: 0, after_read: archive, archive_path: done}}
                write: {connection: local, format: jsonl, path: lake/out}
            """
        },
    )
    land(project / "data" / "in", "x.jsonl", '{"id": 1}\n')
    result = runner(project, "a").run_batch()
    assert result is not None
    assert not (project / "data" / "in" / "x.jsonl").exists()
    assert (project / "data" / "done" / "in" / "x.jsonl").exists()  # relative path kept
    assert runner(project, "a").run_batch() is None
