"""Delta table maintenance between batches: schedules that survive restarts, real delta-rs
compaction/vacuum/checkpoints, exactly-once intact afterwards, failures never fail a batch."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from deltalake import DeltaTable

from odibi_stream.checkpoints.lease import Lease
from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.connectors.base import BatchKey
from odibi_stream.connectors.delta import delta_txn_version
from odibi_stream.core.clock import ManualClock
from odibi_stream.engines import get_engine
from odibi_stream.exceptions import LeaseLost
from odibi_stream.observability.metrics import Metrics
from odibi_stream.runtime.batch import NoFence
from odibi_stream.runtime.compile import compile_pipeline
from odibi_stream.runtime.runner import PipelineRunner
from odibi_stream.service.project import load
from tests.conftest import CLI, cli_env, land, write_project

ODIBI = """\
project: upkeep
checkpoint: {root: ./checkpoints, retain_batches: 5}
connections:
  local: {type: local, base_path: ./data}
"""

PIPE = """\
pipeline: p
nodes:
  - name: raw
    read: {connection: local, format: csv, path: landing/*.csv, incremental: {mode: files, max_files_per_batch: 1, settle_seconds: 0}}
  - name: lake
    depends_on: [raw]
    write:
      connection: local
      format: delta
      path: lake/p
      maintenance: MAINT
"""


def project(tmp_path: Path, maintenance: str) -> Path:
    return write_project(tmp_path / "proj", {"p": PIPE.replace("MAINT", maintenance)}, odibi_yaml=ODIBI)


def drop(root: Path, first: int, count: int) -> None:
    for i in range(first, first + count):
        land(root / "data" / "landing", f"f{i:04d}.csv", f"id\n{i}\n")


def table(root: Path) -> DeltaTable:
    return DeltaTable(str(root / "data" / "lake" / "p"))


def runner(root: Path, clock: ManualClock | None = None) -> PipelineRunner:
    loaded = load(root)
    return PipelineRunner(compile_pipeline(loaded, "p"), engine=get_engine("pandas"),
                          checkpoints=CheckpointManager(LocalCheckpointStore(root / "checkpoints")),
                          retain_batches=5, **({"clock": clock} if clock else {}))


def ops(report_list) -> list[tuple[int, str]]:
    return [(r.batch, m["operation"]) for r in report_list for m in r.maintenance]


def test_batch_schedules_survive_a_restart_and_exactly_once_holds(tmp_path: Path) -> None:
    root = project(tmp_path, "{optimize: {every: 4 batches}, vacuum: {retain: 0s, every: 6 batches}, checkpoint_every: 5 commits}")
    drop(root, 0, 7)
    with runner(root) as r:
        first = r.run_available()
    # Baselines at batch 0; optimize due at 4, vacuum at 6; checkpoint when the table is 5 versions on.
    assert ops(first) == [(4, "optimize"), (5, "checkpoint"), (6, "vacuum")]
    state = json.loads((root / "checkpoints" / "p" / "maintenance.json").read_text())
    assert state["version"] == 1 and state["tables"]["lake"]["optimize"]["batch"] == 4
    drop(root, 7, 5)
    with runner(root) as r:  # a restart continues the schedule from the checkpoint store
        second = r.run_available()
    # Commits count table versions, maintenance commits included (optimize 1, vacuum 2).
    assert ops(second) == [(8, "optimize"), (8, "checkpoint")]
    by_batch = {r.batch: r for r in first}
    optimize = by_batch[4].maintenance[0]
    assert optimize["files_before"] == 5 and optimize["files_after"] == 1 and optimize["error"] is None
    assert optimize["node"] == "lake" and optimize["table"] == str((root / "data" / "lake" / "p").resolve())
    vacuum = by_batch[6].maintenance[0]
    assert vacuum["files_deleted"] == 5  # the files compaction replaced
    assert (root / "data" / "lake" / "p" / "_delta_log" / "_last_checkpoint").exists()
    assert "maintain" in by_batch[4].trace.steps_ms

    dt = table(root)
    assert sorted(dt.to_pyarrow_table().column("id").to_pylist()) == list(range(12))
    assert dt.transaction_version("p/lake") == 11
    assert delta_txn_version(dt.table_uri, {}, "p/lake") == 11
    # A replay of an already written batch after OPTIMIZE + VACUUM + checkpoint is still skipped.
    loaded = load(root)
    compiled = compile_pipeline(loaded, "p")
    sink = compiled.sinks["lake"].open()
    engine = get_engine("pandas")
    import pyarrow as pa

    result = sink.write(engine, pa.table({"id": [999]}), BatchKey("p", "lake", 9))
    assert result.skipped and result.detail["txn_version"] == 11
    assert Counter(table(root).to_pyarrow_table().column("id").to_pylist())[999] == 0


def test_time_schedules_follow_the_clock(tmp_path: Path) -> None:
    root = project(tmp_path, "{optimize: {every: 1h}}")
    clock = ManualClock()
    drop(root, 0, 3)
    with runner(root, clock) as r:
        assert ops(r.run_available()) == []
        clock.advance(3599)
        drop(root, 3, 1)
        assert ops(r.run_available()) == []
        clock.advance(1)
        drop(root, 4, 1)
        assert ops(r.run_available()) == [(4, "optimize")]
        drop(root, 5, 1)
        assert ops(r.run_available()) == []


def test_a_failing_operation_is_reported_not_raised_and_lease_loss_stops(tmp_path: Path) -> None:
    root = project(tmp_path, "{optimize: {every: 1 batches}, checkpoint_every: 1}")
    drop(root, 0, 2)
    with runner(root) as r:
        r.run_available(max_batches=1)
        lake = root / "data" / "lake" / "p"
        for part in lake.glob("*.parquet"):
            part.unlink()  # a data file vanished: compaction must fail, the batch must not
        [report] = r.run_available()
    assert report.batch == 1
    [optimize, checkpoint] = report.maintenance
    assert optimize["operation"] == "optimize" and optimize["error"]
    assert checkpoint["operation"] == "checkpoint" and checkpoint["error"] is None

    class Lost(NoFence):
        def check(self) -> None:
            raise LeaseLost("taken over")

    maintainer = runner(root).maintainer
    assert maintainer is not None
    results = maintainer.run_all(get_engine("pandas"), Lost())
    assert results == [{"node": "lake", "table": str(lake.resolve()), "operation": "optimize", "error": "lease lost"}]


def test_metrics_record_maintenance() -> None:
    m = Metrics()
    m.record_maintenance("p", [
        {"node": "lake", "operation": "optimize", "files_before": 9, "files_after": 1, "duration_ms": 40.0, "error": None},
        {"node": "lake", "operation": "vacuum", "duration_ms": 5.0, "error": "boom"},
    ])
    get = m.registry.get_sample_value
    assert get("odibi_maintenance_total", {"pipeline": "p", "node": "lake", "operation": "optimize", "status": "ok"}) == 1
    assert get("odibi_maintenance_total", {"pipeline": "p", "node": "lake", "operation": "vacuum", "status": "error"}) == 1
    assert get("odibi_table_files", {"pipeline": "p", "node": "lake"}) == 1
    assert get("odibi_maintenance_duration_seconds_sum", {"pipeline": "p", "operation": "optimize"}) == pytest.approx(0.04)


def test_maintain_command_runs_everything_now_and_respects_the_lease(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj", {"p": PIPE.replace("      maintenance: MAINT\n", "")}, odibi_yaml=ODIBI)
    drop(root, 0, 6)
    assert subprocess.run([*CLI, "run", str(root), "--quiet"], env=cli_env(), capture_output=True, timeout=120).returncode == 0
    assert len(table(root).file_uris()) == 6
    done = subprocess.run([*CLI, "maintain", str(root), "--json"], env=cli_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["p"]
    assert [r["operation"] for r in results] == ["optimize", "vacuum", "checkpoint"]
    assert (results[0]["files_before"], results[0]["files_after"]) == (6, 1)
    assert results[1]["files_deleted"] == 0  # the default retain (7 days) keeps the replaced files
    assert len(table(root).file_uris()) == 1 and table(root).transaction_version("p/lake") == 5

    lease = Lease(LocalCheckpointStore(root / "checkpoints"), "p", "another-daemon", 60)
    assert lease.try_acquire()
    busy = subprocess.run([*CLI, "maintain", str(root), "--pipeline", "p", "--wait", "0.2"], env=cli_env(),
                          capture_output=True, text=True, timeout=120)
    assert busy.returncode == 1 and "owned by another-daemon" in busy.stderr and "hint:" in busy.stderr
    assert "Traceback" not in busy.stderr
