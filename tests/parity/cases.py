"""The parity project: pipelines that must give the same output on the pandas and Spark engines.

Every pipeline reads files landed before the run and writes Delta tables or part files; the
test runs the whole project once per engine (``odibi-stream run``) and compares the outputs.
Only the ``engine:`` line of ``odibi.yaml`` differs between the two copies.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import REPO, land, write_project

ODIBI = """\
project: parity
engine: {engine}
checkpoint: {{root: ./checkpoints}}
connections:
  local: {{type: local, base_path: ./data}}
spark: {{master: "local[2]", conf: {{spark.sql.shuffle.partitions: 2}}}}
"""

SQL = """\
pipeline: sql_cases
nodes:
  - name: events
    read:
      connection: local
      format: jsonl
      path: events/*.jsonl
      options: {schema: {id: int64, kind: string, amount: double, ts: timestamp}}
      incremental: {mode: files, max_files_per_batch: 2, settle_seconds: 0}
  - name: shaped
    depends_on: [events]
    transform:
      sql: >-
        SELECT id, upper(kind) AS kind, amount, CAST(amount * 100 AS BIGINT) AS cents,
               CASE WHEN amount >= 50 THEN 'big' ELSE 'small' END AS size,
               coalesce(kind, 'none') AS kind_or_none, ts
        FROM events WHERE id % 7 <> 0
  - name: per_kind
    depends_on: [shaped]
    transform:
      sql: >-
        SELECT kind, count(*) AS n, sum(amount) AS total, avg(amount) AS mean,
               min(ts) AS first_ts, max(id) AS max_id
        FROM shaped GROUP BY kind
  - name: ranked
    depends_on: [shaped]
    transform:
      sql: >-
        SELECT id, kind, row_number() OVER (PARTITION BY kind ORDER BY amount DESC, id) AS rnk
        FROM shaped
  - name: joined
    depends_on: [shaped, per_kind]
    transform:
      sql: >-
        SELECT s.id, s.kind, s.amount / p.total AS share
        FROM shaped s JOIN per_kind p ON s.kind = p.kind
  - {name: out_shaped, depends_on: [shaped], write: {connection: local, format: delta, path: out/shaped}}
  - {name: out_per_kind, depends_on: [per_kind], write: {connection: local, format: delta, path: out/per_kind}}
  - {name: out_ranked, depends_on: [ranked], write: {connection: local, format: delta, path: out/ranked}}
  - {name: out_joined, depends_on: [joined], write: {connection: local, format: parquet, path: out/joined}}
"""

FUNCTION = """\
pipeline: function_cases
nodes:
  - name: events
    read:
      connection: local
      format: jsonl
      path: events/*.jsonl
      options: {schema: {id: int64, kind: string, amount: double, ts: timestamp}}
      incremental: {mode: files, max_files_per_batch: 3, settle_seconds: 0}
  - name: scored
    depends_on: [events]
    transform: {function: parity_fns.score, params: {weight: 1.5}}
  - {name: out_scored, depends_on: [scored], write: {connection: local, format: delta, path: out/scored}}
"""

MERGE = """\
pipeline: merge_cases
nodes:
  - name: events
    read:
      connection: local
      format: jsonl
      path: events/*.jsonl
      options: {schema: {id: int64, kind: string, amount: double, ts: timestamp}}
      incremental: {mode: files, max_files_per_batch: 1, settle_seconds: 0}
  - name: latest
    depends_on: [events]
    transform: {sql: "SELECT kind, max(id) AS last_id, sum(amount) AS batch_total FROM events GROUP BY kind"}
  - name: out_latest
    depends_on: [latest]
    write: {connection: local, format: delta, path: out/latest, mode: merge, merge_keys: [kind]}
"""

WATERMARK = """\
pipeline: watermark_cases
on_error: dead_letter
dead_letter: {connection: local, path: out/wm_dead_letter, format: delta}
nodes:
  - name: readings
    read:
      connection: local
      format: jsonl
      path: readings/*.jsonl
      options: {schema: {sensor: string, value: double, ts: timestamp}}
      incremental: {mode: files, max_files_per_batch: 1, settle_seconds: 0}
      watermark: {column: ts, delay: 5m, late: dead_letter}
  - {name: out_readings, depends_on: [readings], write: {connection: local, format: delta, path: out/readings}}
"""

DEAD_LETTER = """\
pipeline: dead_letter_cases
on_error: dead_letter
dead_letter: {connection: local, path: out/dl_jsonl, format: jsonl}
nodes:
  - name: raw
    read:
      connection: local
      format: csv
      path: messy/*.csv
      options: {schema: {id: int64, name: string, amount: double}}
      incremental: {mode: files, settle_seconds: 0}
  - name: checked
    depends_on: [raw]
    transform: {sql: "SELECT id, name, amount FROM raw"}
    checks:
      - {name: has_name, expr: "name IS NOT NULL"}
  - {name: out_messy, depends_on: [checked], write: {connection: local, format: delta, path: out/messy}}
"""

FNS = '''\
"""A pandas transform: it runs unchanged on both engines."""

from __future__ import annotations

import pandas as pd


def score(df: pd.DataFrame, weight: float) -> pd.DataFrame:
    out = df.copy()
    out["score"] = out["amount"] * weight - out["amount"].mean()
    out["rank_in_batch"] = out["amount"].rank(method="first").astype("int64")
    return out[["id", "kind", "score", "rank_in_batch"]]
'''

# Output name → (relative path, format). Compared as row multisets.
OUTPUTS: dict[str, tuple[str, str]] = {
    "quickstart_bronze": ("data/lake/bronze/orders", "delta"),
    "quickstart_dead_letter": ("data/lake/dead_letter/orders", "delta"),
    "sql_shaped": ("data/out/shaped", "delta"),
    "sql_per_kind": ("data/out/per_kind", "delta"),
    "sql_ranked": ("data/out/ranked", "delta"),
    "sql_joined_parquet": ("data/out/joined", "parquet"),
    "function_scored": ("data/out/scored", "delta"),
    "merge_latest": ("data/out/latest", "delta"),
    "watermark_on_time": ("data/out/readings", "delta"),
    "watermark_late": ("data/out/wm_dead_letter", "delta"),
    "dead_letter_good": ("data/out/messy", "delta"),
    "dead_letter_rejects": ("data/out/dl_jsonl", "jsonl"),
}


def _events(folder: Path) -> None:
    kinds = ["a", "b", "c", None]
    for f in range(6):
        lines = []
        for r in range(15):
            i = f * 15 + r
            kind = kinds[i % 4]
            lines.append(
                json.dumps(
                    {
                        "id": i,
                        "kind": kind,
                        "amount": round((i * 37 % 101) + 0.25 * (i % 3), 2),
                        "ts": f"2026-11-01T{(i // 60):02d}:{i % 60:02d}:00+00:00",
                    }
                )
            )
        land(folder, f"e-{f:03d}.jsonl", "\n".join(lines) + "\n", age_seconds=60 - f)


def _readings(folder: Path) -> None:
    # Batch 2 and 3 carry rows older than (max seen - 5m): those are late on both engines.
    files = [
        [("s1", 1.0, "00:10"), ("s2", 2.0, "00:12")],
        [("s1", 3.0, "00:20"), ("s2", 4.0, "00:09"), ("s1", 5.0, "00:16")],
        [("s2", 6.0, "00:14"), ("s1", 7.0, "00:30"), ("s2", 8.0, "00:26")],
    ]
    for f, rows in enumerate(files):
        text = "".join(
            json.dumps({"sensor": s, "value": v, "ts": f"2026-11-01T{t}:00Z"}) + "\n"
            for s, v, t in rows
        )
        land(folder, f"r-{f:03d}.jsonl", text, age_seconds=60 - f)


def make_project(root: Path, engine: str) -> Path:
    """Write the parity project for ``engine`` under ``root`` and land all input files."""
    project = write_project(
        root,
        {
            "sql_cases": SQL,
            "function_cases": FUNCTION,
            "merge_cases": MERGE,
            "watermark_cases": WATERMARK,
            "dead_letter_cases": DEAD_LETTER,
        },
        odibi_yaml=ODIBI.format(engine=engine),
        files={"parity_fns.py": FNS},
    )
    quickstart = REPO / "examples" / "quickstart"
    shutil.copy(quickstart / "pipelines" / "orders.yaml", project / "pipelines" / "orders.yaml")
    shutil.copytree(quickstart / "quickstart_fns", project / "quickstart_fns")
    for sample in sorted((quickstart / "samples").glob("*.csv")):
        land(
            project / "data" / "landing" / "orders", sample.name, sample.read_text(), age_seconds=60
        )
    _events(project / "data" / "events")
    _readings(project / "data" / "readings")
    land(
        project / "data" / "messy",
        "m-000.csv",
        "id,name,amount\n1,ann,1.5\n2,,2.5\nthree,bo,3.5\n4,cy\n5,di,x\n6,ed,6.0\n",
        age_seconds=60,
    )
    return project
