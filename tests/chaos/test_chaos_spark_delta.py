"""Exactly-once on the Spark engine: files → Delta, SIGKILL at protocol steps, restart.

Each run is a fresh ``odibi-stream run`` process (its own JVM), so the kills hit Spark in the
middle of real jobs and Delta commits; the final run completes and every record must be in the
table exactly once. A few protocol points keep the wall time modest (a Spark start is seconds).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from deltalake import DeltaTable

from tests.chaos.harness import make_input, run_cli
from tests.conftest import write_project
from tests.spark_fixtures import require_spark

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]

ODIBI = """\
project: chaos_spark
engine: spark
checkpoint: {root: ./checkpoints, retain_batches: 3}
# A killed run holds its lease until it expires: keep restarts quick.
runtime: {lease_ttl_seconds: 1}
connections:
  local: {type: local, base_path: ./data}
spark: {master: "local[1]", conf: {spark.sql.shuffle.partitions: 1}}
"""

PIPELINE = """\
pipeline: events
on_error: dead_letter
dead_letter: {connection: local, path: lake/dlq, format: delta}
nodes:
  - name: raw
    read:
      connection: local
      format: jsonl
      path: landing/*.jsonl
      incremental: {mode: files, max_files_per_batch: 2, settle_seconds: 0}
  - name: shaped
    depends_on: [raw]
    transform: {sql: "SELECT id, amount * 2 AS doubled, kind FROM raw"}
  - name: sink
    depends_on: [shaped]
    write: {connection: local, format: delta, path: lake/events, mode: append}
"""

# After the plan is durable, after the sink wrote, and just before the commit.
POINTS = ("after_write_ahead", "after_sink", "before_commit")


def test_spark_files_to_delta_exactly_once_under_kill9(tmp_path: Path) -> None:
    require_spark()
    project = write_project(tmp_path / "p", {"events": PIPELINE}, odibi_yaml=ODIBI)
    landing = project / "data" / "landing"
    expected = make_input(landing, n_files=6, rows_per_file=25)
    kills = 0
    for i, point in enumerate(POINTS):
        if run_cli(project, "events", fault=f"{point}:1", timeout=240) != 0:
            kills += 1
        expected += make_input(landing, n_files=1, rows_per_file=25, start_id=10_000 * (i + 1))
    assert run_cli(project, "events", timeout=240) == 0
    got = Counter(
        DeltaTable(str(project / "data" / "lake" / "events"))
        .to_pyarrow_table(columns=["id"])
        .column("id")
        .to_pylist()
    )
    dupes = {k: v for k, v in got.items() if v > 1}
    assert not dupes, f"duplicated ids after {kills} kills: {sorted(dupes)[:10]}"
    assert set(got) == set(expected), f"missing {sorted(set(expected) - set(got))[:10]}"
    assert kills == len(POINTS), "every fault point should have killed the runtime"
