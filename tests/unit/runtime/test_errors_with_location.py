"""Batch errors say where, and a bad *file* is dead-lettered whole (issue 10 #4).

Before: a zero-byte CSV failed the pipeline (``RecordError: Empty CSV file``) despite
``on_error: dead_letter`` and blocked every file after it; a CSV missing a column failed a
downstream node without naming the file; ``n/a`` in a typed column silently became NULL.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from deltalake import DeltaTable

from odibi_stream.exceptions import BatchFailed
from odibi_stream.runtime.failure import describe_input, failure_detail
from odibi_stream.runtime.file_rejects import WHOLE_FILE
from odibi_stream.service.one_shot import run_pipeline
from odibi_stream.service.project import load
from tests.conftest import write_project

PIPELINE = """\
pipeline: orders
on_error: {policy}
dead_letter: {{connection: local, path: dead}}
nodes:
  - name: raw
    read:
      connection: local
      format: csv
      path: landing/*.csv
      options: {{schema: {{id: int64, customer: string, amount: double}}{extra}}}
      incremental: {{mode: files, settle_seconds: 0}}
  - name: clean
    depends_on: [raw]
    transform: {{sql: "SELECT id, customer, amount FROM raw"}}
    write: {{connection: local, format: delta, path: tables/orders}}
"""


def make(tmp_path: Path, policy: str, files: dict[str, str], extra: str = "") -> Path:
    root = write_project(tmp_path / "p", {"orders": PIPELINE.format(policy=policy, extra=extra)})
    landing = root / "data" / "landing"
    landing.mkdir(parents=True)
    base = time.time() - 100
    for i, (name, text) in enumerate(files.items()):
        (landing / name).write_text(text)
        os.utime(landing / name, (base + i, base + i))  # one batch, in this order
    return root


def table(root: Path, rel: str) -> list[dict[str, object]]:
    path = root / "data" / rel
    if not (path / "_delta_log").exists():
        return []
    return sorted(DeltaTable(str(path)).to_pyarrow_table().to_pylist(), key=lambda r: str(r))


FILES = {
    "a.csv": "id,customer,amount\n1,ann,1.5\n",
    "b-empty.csv": "",
    "c-no-amount.csv": "id,customer\n3,cy\n",
    "d.csv": "id,customer,amount\n4,dan,n/a\n5,eve,2.5\n",
}


def test_bad_files_go_to_the_dead_letter_whole_and_the_batch_commits(tmp_path: Path) -> None:
    root = make(tmp_path, "dead_letter", FILES)
    [report] = run_pipeline(load(root), "orders")
    assert [r["id"] for r in table(root, "tables/orders")] == [1, 5]
    dead = {r["_odibi_source"]: r for r in table(root, "dead")}
    assert dead["landing/b-empty.csv"]["_odibi_record"] == WHOLE_FILE
    assert "Empty CSV file" in str(dead["landing/b-empty.csv"]["_odibi_error"])
    assert "has no column(s) amount" in str(dead["landing/c-no-amount.csv"]["_odibi_error"])
    assert all(r["_odibi_batch"] == 0 for r in dead.values())
    # n/a is not NULL: the row is rejected with its text and counted
    [na] = [r for s, r in dead.items() if s.endswith("d.csv")]
    assert na["_odibi_record"] == "4,dan,n/a" and "cannot convert 'n/a' to double" in str(na["_odibi_error"])
    assert (report.rows_in, report.rows_out, report.rejected) == (5, 2, 3)
    # the pipeline goes on: the next file is processed
    landing = root / "data" / "landing"
    (landing / "e.csv").write_text("id,customer,amount\n6,fay,3.0\n")
    os.utime(landing / "e.csv", (time.time() - 50, time.time() - 50))
    [nxt] = run_pipeline(load(root), "orders")
    assert nxt.batch == 1 and [r["id"] for r in table(root, "tables/orders")] == [1, 5, 6]


def test_skip_counts_bad_files_without_writing_them(tmp_path: Path) -> None:
    root = make(tmp_path, "skip", FILES)
    [report] = run_pipeline(load(root), "orders")
    assert report.rejected == 3 and [r["id"] for r in table(root, "tables/orders")] == [1, 5]
    assert table(root, "dead") == []


def test_declared_null_values_are_null_and_nothing_else_is(tmp_path: Path) -> None:
    root = make(tmp_path, "dead_letter", {"d.csv": FILES["d.csv"]}, extra=", null_values: ['', n/a]")
    [report] = run_pipeline(load(root), "orders")
    assert report.rejected == 0
    assert [(r["id"], r["amount"]) for r in table(root, "tables/orders")] == [(4, None), (5, 2.5)]


def test_under_fail_the_error_names_the_file_node_line_and_the_way_out(tmp_path: Path) -> None:
    root = make(tmp_path, "fail", FILES)
    with pytest.raises(BatchFailed) as info:
        run_pipeline(load(root), "orders")
    err = info.value
    assert (err.pipeline, err.batch, err.step, err.node) == ("orders", 0, "execute", "raw")
    assert err.where == f"{root / 'pipelines' / 'orders.yaml'}:5"
    assert err.input == "landing/b-empty.csv"
    assert "input landing/b-empty.csv" in str(err)
    detail = failure_detail(err)
    assert detail["input"] == "landing/b-empty.csv" and detail["type"] == "UnreadableFile"
    assert "odibi-stream retry" in detail["hint"] and "on_error: dead_letter" in detail["hint"]
    assert table(root, "tables/orders") == []  # nothing of the batch landed


def test_a_downstream_sql_failure_names_the_batch_files(tmp_path: Path) -> None:
    root = make(tmp_path, "fail", {"a.csv": FILES["a.csv"]})
    text = (root / "pipelines" / "orders.yaml").read_text()
    # passes validate (bound on empty frames) but fails on data: a runtime cast error
    (root / "pipelines" / "orders.yaml").write_text(text.replace(
        "SELECT id, customer, amount FROM raw", "SELECT CAST(customer AS INTEGER) AS c FROM raw"))
    with pytest.raises(BatchFailed) as info:
        run_pipeline(load(root), "orders")
    detail = failure_detail(info.value)
    assert (detail["node"], detail["step"], detail["input"]) == ("clean", "execute", "landing/a.csv")
    assert detail["where"].endswith("orders.yaml:12")


def test_describe_input_shapes() -> None:
    files = {"files": [{"path": f"in/{i}.csv", "size": 1, "mtime_ns": i} for i in range(5)]}
    assert describe_input(files) == "in/0.csv, in/1.csv, in/2.csv (+2 more)"
    kafka = {"partitions": {"t:1": [5, 9], "t:0": [0, 3]}}
    assert describe_input(kafka) == "t:0 offsets [0, 3), t:1 offsets [5, 9)"
    assert describe_input({"lo": 1, "hi": 2}) == '{"hi": 2, "lo": 1}'
    assert describe_input(None) is None
