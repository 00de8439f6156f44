"""The parity project: pipelines that must give the same output on the pandas and Spark engines.

Every pipeline reads files landed before the run and writes Delta tables or part files; the
test runs the whole project once per engine (``odibi-stream run``) and compares the outputs.
Only the ``engine:`` line of ``odibi.yaml`` differs between the two copies.
"""

from __future__ import annotations

import json
import random
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

# On the Spark engine this pipeline runs with its accounting deferred (runtime.deferred): the
# rejects are learnt after the Delta write, from the same files. `qty` is never selected, so a
# bad `qty` is caught only if the whole row is parsed; the second batch keeps no row at all.
DEFERRED = """\
pipeline: deferred_cases
on_error: dead_letter
dead_letter: {connection: local, path: out/deferred_dead_letter, format: jsonl}
nodes:
  - name: raw
    read:
      connection: local
      format: jsonl
      path: deferred/*.jsonl
      options: {schema: {id: int64, kind: string, amount: double, qty: int64}}
      incremental: {mode: files, max_files_per_batch: 1, settle_seconds: 0}
  - name: picked
    depends_on: [raw]
    transform: {sql: "SELECT id, kind, amount * 2 AS doubled FROM raw WHERE amount > 1"}
  - {name: out_picked, depends_on: [picked], write: {connection: local, format: delta, path: out/picked}}
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

CDC_READ = """\
  - name: changes
    read:
      connection: local
      format: jsonl
      path: cdc/*.jsonl
      options: {schema: {id: int64, seq: int64, op: string, name: string, amount: double}}
      incremental: {mode: files, max_files_per_batch: 1, settle_seconds: 0}
"""


def _cdc_pipeline(name: str, merge: str) -> str:
    return (
        f"pipeline: {name}\nnodes:\n{CDC_READ}"
        f"  - name: out_{name}\n    depends_on: [changes]\n"
        f"    write: {{connection: local, format: delta, path: out/{name}, mode: merge, merge: {merge}}}\n"
    )


DELETES = "deletes: {column: op, value: D}"
SEMANTICS = {
    "cdc_upsert": _cdc_pipeline("cdc_upsert", f"{{keys: [id], sequence_by: seq, {DELETES}, audit_columns: true}}"),
    "cdc_scd1_soft": _cdc_pipeline(
        "cdc_scd1_soft", "{keys: [id], strategy: scd1, sequence_by: seq, deletes: {column: op, value: D, mode: soft}, audit_columns: true}"
    ),
    "cdc_scd2": _cdc_pipeline("cdc_scd2", f"{{keys: [id], strategy: scd2, sequence_by: seq, {DELETES}, audit_columns: true}}"),
    "cdc_append_only": _cdc_pipeline("cdc_append_only", "{keys: [id], strategy: append_only, sequence_by: seq}"),
    "cdc_delete_insert": _cdc_pipeline("cdc_delete_insert", f"{{keys: [id], strategy: delete_insert, {DELETES}}}"),
    "schema_rescue": """\
pipeline: schema_rescue
nodes:
  - name: drift
    read: {connection: local, format: jsonl, path: drift/*.jsonl, incremental: {mode: files, max_files_per_batch: 1, settle_seconds: 0}}
    write: {connection: local, format: delta, path: out/rescue, schema: {evolution: rescue}}
""",
    "schema_add": """\
pipeline: schema_add
nodes:
  - name: drift
    read: {connection: local, format: jsonl, path: drift/*.jsonl, incremental: {mode: files, max_files_per_batch: 1, settle_seconds: 0}}
    write: {connection: local, format: delta, path: out/added, mode: merge, merge: {keys: [id]}}
""",
    "pii_quality": """\
pipeline: pii_quality
on_error: dead_letter
dead_letter: {connection: local, path: out/pii_dead_letter, format: jsonl}
pii: {salt: "${secret:PARITY_SALT}"}
nodes:
  - name: people
    read:
      connection: local
      format: jsonl
      path: people/*.jsonl
      options: {schema: {id: int64, email: string, ssn: string, phone: string, age: int64}}
      incremental: {mode: files, settle_seconds: 0}
    columns:
      email: {sensitive: true, mask: hash}
      ssn: {sensitive: true, mask: keep_last(4)}
      phone: {sensitive: true, mask: redact}
      age: {sensitive: true, mask: "null"}
    checks:
      - {name: has_phone, expr: "phone IS NOT NULL", severity: warn}
      - {name: adult, expr: "age >= 18", severity: drop}
    expect: {min_rows: 1, max_null_fraction: {email: 0.5}}
  - name: out_people
    depends_on: [people]
    write: {connection: local, format: delta, path: out/people, mode: merge, merge: {keys: [email]}}
""",
}
PARITY_SALT = "parity-salt-5d2e"

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
    **{name: (f"data/out/{name}", "delta") for name in SEMANTICS if name.startswith("cdc_")},
    "schema_rescue": ("data/out/rescue", "delta"),
    "schema_add_columns": ("data/out/added", "delta"),
    "pii_masked": ("data/out/people", "delta"),
    "pii_dead_letter": ("data/out/pii_dead_letter", "jsonl"),
    "deferred_good": ("data/out/picked", "delta"),
    "deferred_rejects": ("data/out/deferred_dead_letter", "jsonl"),
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


def _cdc(folder: Path) -> None:
    # Several changes per key per file, out of order, with ties on seq (a delete wins, else the
    # later row), late changes, and deletes of keys that exist and that do not.
    rng = random.Random(16)
    for f in range(3):
        rows = []
        for _ in range(40):
            key = rng.randrange(8)
            seq = rng.randrange(f * 10, f * 10 + 14) if rng.random() > 0.1 else rng.randrange(0, 10)
            op = rng.choice("IUUUD")
            rows.append({"id": key, "seq": seq, "op": op, "name": f"n{rng.randrange(4)}", "amount": rng.randrange(5) / 4})
        land(folder, f"c-{f:03d}.jsonl", "".join(json.dumps(r) + "\n" for r in rows), age_seconds=60 - f)


def _drift(folder: Path) -> None:
    files = [
        [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        [{"id": 2, "name": "b2", "extra": "e", "score": 1.5}, {"id": 3, "name": "c", "score": 2.25}],
        [{"id": 4, "name": "d", "flag": True}],
    ]
    for f, rows in enumerate(files):
        land(folder, f"d-{f:03d}.jsonl", "".join(json.dumps(r) + "\n" for r in rows), age_seconds=60 - f)


def _people(folder: Path) -> None:
    rows = [
        {"id": 1, "email": "ann@example.org", "ssn": "123-45-6789", "phone": "+1-555-0101", "age": 30},
        {"id": 2, "email": "bob@example.org", "ssn": "987", "phone": None, "age": 41},
        {"id": 3, "email": "cy@example.org", "ssn": "555-12-3456", "phone": "+1-555-0103", "age": 12},
        {"id": 4, "email": "ann@example.org", "ssn": "123-45-6789", "phone": "+1-555-0104", "age": 31},
    ]
    text = "".join(json.dumps(r) + "\n" for r in rows) + '{"id": 5, "email": "dee@example.org", "age": "x"}\n'
    land(folder, "p-000.jsonl", text, age_seconds=60)


def _deferred(folder: Path) -> None:
    good = [{"id": i, "kind": "ab"[i % 2], "amount": i * 0.75, "qty": i} for i in range(8)]
    first = "".join(json.dumps(r) + "\n" for r in good)
    first += '{"id": 8, "kind": "a", "amount": 9.5, "qty": "many"}\n'  # bad in an unselected column
    first += '{"id": 9, "kind": "b", "amount": "lots", "qty": 1}\n'  # bad in a selected column
    first += '{"id": 10, "kind": "a", "amount": 3.0\n'  # not JSON
    land(folder, "x-000.jsonl", first, age_seconds=60)
    land(folder, "x-001.jsonl", '{"id": 11, "kind": "a", "amount": 0.5, "qty": 2}\n', age_seconds=59)


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
            "deferred_cases": DEFERRED,
            **SEMANTICS,
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
    _cdc(project / "data" / "cdc")
    _drift(project / "data" / "drift")
    _people(project / "data" / "people")
    _deferred(project / "data" / "deferred")
    land(
        project / "data" / "messy",
        "m-000.csv",
        "id,name,amount\n1,ann,1.5\n2,,2.5\nthree,bo,3.5\n4,cy\n5,di,x\n6,ed,6.0\n",
        age_seconds=60,
    )
    return project
