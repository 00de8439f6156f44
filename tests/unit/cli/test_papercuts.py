"""Minute-one papercuts (issue 10 #6): the same row counts everywhere, ``none`` not ``-1``,
``run --quiet`` quiet."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.conftest import CLI, cli_env, land, write_project

PIPELINE = """\
pipeline: orders
on_error: skip
nodes:
  - name: raw
    read:
      connection: local
      format: csv
      path: landing/*.csv
      options: {schema: {id: int64, amount: double}}
      incremental: {mode: files, settle_seconds: 0}
  - name: clean
    depends_on: [raw]
    transform: {sql: "SELECT id, amount * 2 AS amount FROM raw"}
    checks: [{name: positive, expr: "amount > 0"}]
  - name: out
    depends_on: [clean]
    write: {connection: local, format: delta, path: tables/orders}
  - name: copy
    depends_on: [clean]
    write: {connection: local, format: parquet, path: tables/copy}
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=cli_env(), timeout=120)


def test_history_counts_rows_like_the_log_line_and_run(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"orders": PIPELINE})
    land(root / "data" / "landing", "a.csv", "id,amount\n1,1.0\n2,-1.0\n3,2.0\n")
    res = run("run", str(root))
    assert res.returncode == 0, res.stderr
    # 3 rows read by the source node; 2 rows written by each of the two sink nodes
    assert "orders: 1 batch(es), 3 rows in, 4 rows out, 1 rejected" in res.stdout
    logged = re.search(r"committed orders batch 0: (\d+) rows in, (\d+) out, (\d+) rejected", res.stderr)
    assert logged is not None and logged.groups() == ("3", "4", "1")
    hist = run("checkpoint", "history", str(root), "--pipeline", "orders", "--json")
    assert hist.returncode == 0, hist.stderr
    [row] = json.loads(hist.stdout)
    assert (row["rows_in"], row["rows_out"], row["rejected"]) == (3, 4, 1)


def test_status_says_none_for_no_batch(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"orders": PIPELINE})
    res = run("status", str(root))
    assert res.returncode == 0, res.stderr
    [line] = [x for x in res.stdout.splitlines() if "orders" in x]
    assert "-1" not in line and re.search(r"│ none\s+│ none", line)
    doc = json.loads(run("status", str(root), "--json").stdout)
    assert doc["pipelines"][0]["last_committed"] is None


def test_run_quiet_prints_only_the_summary(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"orders": PIPELINE})
    land(root / "data" / "landing", "a.csv", "id,amount\n1,1.0\n")
    res = run("run", str(root), "--quiet")
    assert res.returncode == 0
    assert res.stderr == ""  # no lease lines, no batch lines
    assert res.stdout.strip().startswith("✓ orders: 1 batch(es)")
