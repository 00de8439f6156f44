"""The micro-batch protocol end to end on real files, Delta tables and checkpoints."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from odibi_stream.exceptions import BatchFailed, LeaseLost, RecordError
from odibi_stream.runtime import batch as protocol
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
      options: {schema: {id: int64, amount: double}}
      incremental: {mode: files, max_files_per_batch: 2, settle_seconds: 0}
  - name: big
    depends_on: [raw]
    transform: {sql: "SELECT id, amount * 2 AS amount2 FROM raw WHERE amount > 0"}
  - name: out
    depends_on: [big]
    write: {connection: local, format: delta, path: lake/out, mode: append}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "p", {"orders": PIPE})


def _ids(project: Path) -> list[int]:
    return sorted(r["id"] for r in delta_rows(project / "data" / "lake" / "out"))


def test_batches_are_bounded_numbered_and_land_once(project: Path) -> None:
    landing = project / "data" / "landing"
    for f in range(5):
        land(landing, f"o{f}.csv", csv_lines(range(f * 10, f * 10 + 10)))
    r = runner(project, "orders")
    results = r.run_available()
    assert [x.batch for x in results] == [0, 1, 2]  # 5 files, at most 2 per batch
    assert [x.rows_in for x in results] == [20, 20, 10]
    assert _ids(project) == list(range(50))
    assert r.run_batch() is None  # caught up: no empty batches
    land(landing, "o5.csv", csv_lines(range(50, 53)))
    again = runner(project, "orders").run_available()  # a restarted process continues at 3
    assert [x.batch for x in again] == [3]
    assert _ids(project) == list(range(53))


def test_planned_batch_is_replayed_verbatim_after_a_crash(project: Path) -> None:
    landing = project / "data" / "landing"
    land(landing, "a.csv", csv_lines(range(0, 5)))
    r = runner(project, "orders")
    state = protocol.recover(r.live, r.log)
    entry = protocol.plan_batch(r.live, state, 0, force=False)
    assert entry is not None
    protocol.write_ahead(r.log, entry, protocol.NoFence())
    # The process "dies" here. More data arrives before the restart.
    land(landing, "b.csv", csv_lines(range(5, 9)))
    restarted = runner(project, "orders")
    first = restarted.run_batch()
    assert first is not None and first.replayed and first.batch == 0
    assert first.rows_in == 5, "the replay must read exactly the recorded range, not the new file"
    second = restarted.run_batch()
    assert second is not None and not second.replayed and second.rows_in == 4
    assert _ids(project) == list(range(9))


def test_replay_after_sink_wrote_skips_the_sink(project: Path) -> None:
    land(project / "data" / "landing", "a.csv", csv_lines(range(0, 7)))
    r = runner(project, "orders")
    state = protocol.recover(r.live, r.log)
    entry = protocol.plan_batch(r.live, state, 0, force=False)
    assert entry is not None
    protocol.write_ahead(r.log, entry, protocol.NoFence())
    protocol.execute(r.live, r.engine, entry)  # sink wrote batch 0; the commit never happened
    result = runner(project, "orders").run_batch()
    assert result is not None and result.replayed
    assert result.nodes["out"]["sink"]["skipped"] is True
    assert _ids(project) == list(range(7)), "the replay must not append a second copy"


def test_a_fenced_out_owner_cannot_commit(project: Path) -> None:
    land(project / "data" / "landing", "a.csv", csv_lines(range(3)))

    class Lost:
        epoch = 1

        def __init__(self) -> None:
            self.calls = 0

        def check(self) -> None:
            self.calls += 1
            if self.calls > 1:  # lost the lease between write-ahead and commit
                raise LeaseLost("another owner took the pipeline")

    r = runner(project, "orders", fence=Lost())
    with pytest.raises(BatchFailed) as info:
        r.run_batch()
    assert isinstance(info.value.cause, LeaseLost)
    assert (info.value.pipeline, info.value.batch, info.value.step) == ("orders", 0, "commit")
    assert r.log.read_commit(0) is None
    assert r.log.read_offsets(0) is not None
    ok = runner(project, "orders").run_batch()
    assert ok is not None and ok.replayed and ok.batch == 0
    assert _ids(project) == [0, 1, 2]


def test_retention_compacts_and_recovery_stays_exact(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "p", {"orders": PIPE.replace("max_files_per_batch: 2", "max_files_per_batch: 1")},
        odibi_yaml="""\
        project: t
        checkpoint: {root: ./checkpoints, retain_batches: 2}
        connections:
          local: {type: local, base_path: ./data}
        """,
    )
    landing = project / "data" / "landing"
    for f in range(8):
        land(landing, f"o{f}.csv", csv_lines(range(f * 3, f * 3 + 3)))
    assert len(runner(project, "orders").run_available()) == 8
    commits = sorted((project / "checkpoints" / "orders" / "commits").glob("*.json"))
    assert len(commits) <= 4, commits
    assert (project / "checkpoints" / "orders" / "snapshot.json").exists()
    assert runner(project, "orders").run_batch() is None, "compacted files must stay processed"
    assert _ids(project) == list(range(24))


def test_parallel_layers_run_concurrently(tmp_path: Path) -> None:
    barrier_module = tmp_path / "p" / "par_fns.py"
    project = write_project(
        tmp_path / "p",
        {
            "fan": """\
            pipeline: fan
            nodes:
              - name: raw
                read: {connection: local, format: csv, path: landing/*.csv,
                       incremental: {mode: files, settle_seconds: 0}}
              - name: lbranch
                depends_on: [raw]
                transform: {function: par_fns.meet}
              - name: rbranch
                depends_on: [raw]
                transform: {function: par_fns.meet}
              - name: both
                depends_on: [lbranch, rbranch]
                transform: {sql: "SELECT * FROM lbranch UNION ALL SELECT * FROM rbranch"}
                write: {connection: local, format: parquet, path: lake/both}
            """
        },
    )
    barrier_module.write_text(
        "import threading\n"
        "BARRIER = threading.Barrier(2, timeout=10)\n"
        "def meet(df):\n"
        "    BARRIER.wait()  # both branches must be inside at once, or this times out\n"
        "    return df\n"
    )
    land(project / "data" / "landing", "a.csv", csv_lines(range(4)))
    result = runner(project, "fan").run_batch()
    assert result is not None and result.nodes["both"]["rows_out"] == 8


def test_on_error_fail_stops_before_commit(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"orders": PIPE})
    land(project / "data" / "landing", "bad.csv", "id,amount\n1,2.0\nx,3.0\n")
    r = runner(project, "orders")
    with pytest.raises(BatchFailed, match="bad record") as info:
        r.run_batch()
    err = info.value
    assert isinstance(err.cause, RecordError) and not err.retryable
    assert (err.step, err.node, err.batch) == ("execute", "raw", 0)
    assert err.where is not None and err.where.endswith("orders.yaml:3"), err.where
    assert r.log.read_commit(0) is None


def test_forced_batch_runs_static_reads(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "p",
        {
            "copy": """\
            pipeline: copy
            nodes:
              - name: lookup
                read: {connection: local, format: csv, path: ref/lookup.csv}
              - name: out
                depends_on: [lookup]
                write: {connection: local, format: delta, path: lake/lookup, mode: overwrite}
            """
        },
        files={"data/ref/lookup.csv": "k,v\na,1\nb,2\n"},
    )
    r = runner(project, "copy")
    assert r.run_batch() is None  # nothing incremental: only a forced run does work
    forced = r.run_batch(force=True)
    assert forced is not None and forced.rows_out == 2
    r.run_batch(force=True)
    assert len(delta_rows(project / "data" / "lake" / "lookup")) == 2  # overwrite, not append


def test_stop_event_is_checked_between_batches(project: Path) -> None:
    for f in range(6):
        land(project / "data" / "landing", f"o{f}.csv", csv_lines(range(f, f + 1)))
    r = runner(project, "orders")
    r.stop = threading.Event()
    r.stop.set()
    assert r.run_available() == []
