"""Delta table maintenance on the Spark engine: delta-spark OPTIMIZE, VACUUM and checkpoints run
between batches; data lands once, the txn ids survive and a replayed batch is still skipped."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from deltalake import DeltaTable

from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.connectors.base import BatchKey
from odibi_stream.engines.base import SupportsDeltaMaintenance
from odibi_stream.runtime.compile import compile_pipeline
from odibi_stream.runtime.runner import PipelineRunner
from odibi_stream.service.project import load
from tests.conftest import land, write_project
from tests.spark_fixtures import spark_engine  # noqa: F401  (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ODIBI = """\
project: spark_upkeep
engine: spark
checkpoint: {root: ./checkpoints}
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
      maintenance: {optimize: {every: 3 batches}, vacuum: {retain: 0s, every: 4 batches}, checkpoint_every: 3 commits}
"""


def test_spark_maintenance_between_batches(tmp_path: Path, spark_engine: object) -> None:  # noqa: F811
    assert isinstance(spark_engine, SupportsDeltaMaintenance)
    root = write_project(tmp_path / "proj", {"p": PIPE}, odibi_yaml=ODIBI)
    for i in range(6):
        land(root / "data" / "landing", f"f{i}.csv", f"id,v\n{i},{i * 2}\n")
    compiled = compile_pipeline(load(root), "p")
    checkpoints = CheckpointManager(LocalCheckpointStore(root / "checkpoints"))
    with PipelineRunner(compiled, engine=spark_engine, checkpoints=checkpoints) as runner:  # type: ignore[arg-type]
        reports = runner.run_available()
    ran = [(r.batch, m["operation"]) for r in reports for m in r.maintenance]
    # Commits are table versions: vacuum adds two (START, END), so batch 5 is 3 past the checkpoint.
    assert ran == [(3, "optimize"), (3, "checkpoint"), (4, "vacuum"), (5, "checkpoint")], ran
    assert all(m["error"] is None for r in reports for m in r.maintenance)
    by_batch = {r.batch: r for r in reports}
    optimize = by_batch[3].maintenance[0]
    assert (optimize["files_before"], optimize["files_after"], optimize["files_removed"]) == (4, 1, 4)
    assert by_batch[4].maintenance[0]["files_deleted"] == 4

    lake = root / "data" / "lake" / "p"
    table = DeltaTable(str(lake))
    history = [h for h in table.history() if h["operation"] in ("OPTIMIZE", "VACUUM END")]
    assert {h["operation"] for h in history} == {"OPTIMIZE", "VACUUM END"}
    assert all("Apache-Spark" in str(h.get("engineInfo", "")) for h in history), "run by delta-spark"
    assert (lake / "_delta_log" / "_last_checkpoint").exists()
    assert Counter(table.to_pyarrow_table().column("id").to_pylist()) == Counter(range(6))
    assert table.transaction_version("p/lake") == 5

    sink = compiled.sinks["lake"].open()
    replay = sink.write(spark_engine, spark_engine.spark.createDataFrame([(99, 1)], "id long, v long"),  # type: ignore[attr-defined]
                        BatchKey("p", "lake", 4))
    assert replay.skipped
    assert 99 not in DeltaTable(str(lake)).to_pyarrow_table().column("id").to_pylist()
