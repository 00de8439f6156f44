"""A pipeline on a real Spark standalone cluster (master + worker on loopback)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from deltalake import DeltaTable

from tests.conftest import CLI, cli_env, land, write_project
from tests.spark_fixtures import Cluster, spark_cluster

__all__ = ["spark_cluster"]
pytestmark = pytest.mark.timeout(400)

PIPELINE = """\
pipeline: on_cluster
on_error: dead_letter
dead_letter: {connection: local, path: lake/dlq, format: delta}
nodes:
  - name: raw
    read:
      connection: local
      format: jsonl
      path: landing/*.jsonl
      options: {schema: {id: int64, kind: string, amount: double}}
      incremental: {mode: files, max_files_per_batch: 2, settle_seconds: 0}
  - name: totals
    depends_on: [raw]
    transform: {sql: "SELECT kind, count(*) AS n, sum(amount) AS total FROM raw GROUP BY kind"}
  - name: sink
    depends_on: [totals]
    write: {connection: local, format: delta, path: lake/totals, mode: merge, merge_keys: [kind]}
"""


def test_pipeline_runs_on_standalone_cluster(tmp_path: Path, spark_cluster: Cluster) -> None:
    odibi = f"""\
project: cluster
engine: spark
checkpoint: {{root: ./checkpoints}}
connections:
  local: {{type: local, base_path: ./data}}
spark:
  master: {spark_cluster.master}
  conf: {{spark.executor.memory: 512m, spark.cores.max: 1, spark.driver.host: 127.0.0.1}}
"""
    project = write_project(tmp_path / "p", {"on_cluster": PIPELINE}, odibi_yaml=odibi)
    for f in range(3):
        lines = [
            json.dumps({"id": f * 10 + r, "kind": "k" + str(r % 3), "amount": r}) for r in range(10)
        ]
        land(project / "data" / "landing", f"f{f}.jsonl", "\n".join(lines) + "\n{broken\n")
    done = subprocess.run(
        [*CLI, "run", str(project), "--quiet"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=360,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    rows = DeltaTable(str(project / "data" / "lake" / "totals")).to_pyarrow_table().to_pylist()
    # Two batches (2 files, then 1): the merge keeps the last batch's totals per kind.
    assert sorted((r["kind"], r["n"], r["total"]) for r in rows) == [
        ("k0", 4, 18.0),
        ("k1", 3, 12.0),
        ("k2", 3, 15.0),
    ]
    assert DeltaTable(str(project / "data" / "lake" / "dlq")).to_pyarrow_table().num_rows == 3
    # The work ran on the cluster's executor, not in a local driver-only session.
    apps = list((spark_cluster.logs / "work").glob("app-*"))
    logs = [
        p.read_text(errors="replace") for p in (spark_cluster.logs / "work").glob("app-*/*/stderr")
    ]
    assert apps and any("Finished task" in text for text in logs), (
        f"no task ran on the worker's executor; logs in {spark_cluster.logs}"
    )
