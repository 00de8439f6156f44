"""Data semantics through the real CLI: validate errors, schema changes in history, a strict failure."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from deltalake import DeltaTable

from tests.conftest import CLI, cli_env, land, write_project

PIPELINE = """\
pipeline: drift
nodes:
  - name: rows
    read: {connection: local, format: jsonl, path: in/*.jsonl, incremental: {mode: files, max_files_per_batch: 1, settle_seconds: 0}}
    write: {connection: local, format: delta, path: out, schema: {evolution: EVOLUTION}}
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=cli_env(), capture_output=True, text=True, timeout=120)


def _drift(project: Path) -> None:
    land(project / "data" / "in", "a.jsonl", '{"id": 1, "name": "a"}\n', age_seconds=30)
    land(project / "data" / "in", "b.jsonl", '{"id": 2, "name": "b", "email": "x"}\n', age_seconds=20)


def test_history_shows_the_schema_change_of_a_batch(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"drift": PIPELINE.replace("EVOLUTION", "add_columns")})
    _drift(project)
    assert _cli("run", str(project), "--quiet").returncode == 0
    table = _cli("checkpoint", "history", str(project), "--pipeline", "drift")
    assert table.returncode == 0 and "rows: +email(string)" in table.stdout
    rows = json.loads(_cli("checkpoint", "history", str(project), "--pipeline", "drift", "--json").stdout)
    assert [r["schema_changes"] for r in rows] == [{"rows": {"added": {"email": "string"}}}, {}]


def test_strict_fails_the_run_with_the_diff_and_where_the_sink_is(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"drift": PIPELINE.replace("EVOLUTION", "strict")})
    _drift(project)
    done = _cli("run", str(project))
    assert done.returncode != 0
    assert "pipelines/drift.yaml:3" in done.stderr
    assert "(schema evolution: strict): added: email (string)" in done.stderr
    assert "Traceback" not in done.stderr
    assert DeltaTable(str(project / "data" / "out")).to_pyarrow_table().num_rows == 1


def test_validate_reports_semantics_config_errors_with_file_and_line(tmp_path: Path) -> None:
    bad = PIPELINE.replace("EVOLUTION", "add_columns").replace(
        "schema: {evolution: add_columns}", "mode: merge, merge: {keys: [id], strategy: scd3}"
    )
    project = write_project(tmp_path / "p", {"drift": bad})
    done = _cli("validate", str(project))
    assert done.returncode == 2
    assert "drift.yaml:5" in done.stderr and "did you mean 'scd2'?" in done.stderr
