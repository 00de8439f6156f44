"""Issue 17 finding 2: CLI error output was never redacted.

``validate``, ``run``, ``serve`` start-up and ``--debug`` printed ``LINE 1: SELECT ... WHERE =
'S3cr3t-...'``, ``unknown connection 'S3cr3t-...'`` — while the same error inside the daemon's
logs was masked. Each case runs the real CLI in a subprocess and greps everything it printed
for the secret and every 4+ character piece of it; each fails on the old CLI.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import TransformError
from tests.conftest import CLI, cli_env, land, write_project

SECRET = "Qz9kP2vL8wXr7T"
REF = "${secret:DB_PASS}"

ODIBI = """\
project: t
checkpoint: {root: ./checkpoints}
connections:
  local: {type: local, base_path: ./data}
"""


def pieces(secret: str = SECRET) -> list[str]:
    """Every substring of ``secret`` with 4 or more characters."""
    return sorted({secret[i:j] for i in range(len(secret)) for j in range(i + 4, len(secret) + 1)})


def assert_clean(text: str) -> None:
    found = [p for p in pieces() if p in text]
    assert not found, f"secret pieces {found} in output:\n{text}"


def odibi(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=tmp_path, env={**cli_env(), "DB_PASS": SECRET},
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def pipeline(sql: str | None = None, write_connection: str = "local", function: str | None = None) -> str:
    transform = ""
    if sql is not None:
        transform = f'    transform: {{sql: "{sql}"}}\n'
    if function is not None:
        transform = f"    transform: {{function: '{function}'}}\n"
    return (
        "pipeline: p\n"
        "nodes:\n"
        "  - name: src\n"
        "    read: {connection: local, format: csv, path: landing/*.csv,"
        " incremental: {mode: files, settle_seconds: 0}}\n"
        "  - name: out\n"
        "    depends_on: [src]\n"
        f"{transform}"
        f"    write: {{connection: '{write_connection}', format: delta, path: tables/p}}\n"
    )


def truncating_sql() -> str:
    """SQL over ``src`` whose real DuckDB error echo cuts the secret (``'Qz9kP2vL8w...``)."""
    engine = PandasEngine()
    table = pa.table({"id": [1]})
    for pad in range(0, 200):
        sql = f"SELECT * FROM src WHERE = 1 AND {'x' * pad} = '{SECRET}'"
        try:
            engine.sql(sql, {"src": table})
        except TransformError as exc:
            if SECRET not in str(exc) and f"'{SECRET[:8]}" in str(exc):
                return sql.replace(SECRET, REF)
    raise AssertionError("no padding made DuckDB cut the secret")


def test_validate_error_naming_a_secret(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj", {"p": pipeline(write_connection=REF)}, odibi_yaml=ODIBI)
    proc = odibi(tmp_path, "validate", str(root))
    assert proc.returncode == 2
    assert "unknown connection '${secret:DB_PASS}'" in proc.stderr
    assert_clean(proc.stdout + proc.stderr)


@pytest.mark.parametrize("debug", [False, True])
def test_run_sql_error_echoing_the_secret_truncated(tmp_path: Path, debug: bool) -> None:
    root = write_project(tmp_path / "proj", {"p": pipeline(sql=truncating_sql())}, odibi_yaml=ODIBI)
    land(root / "data" / "landing", "a.csv", "id\n1\n")
    args = ["--debug"] if debug else []
    proc = odibi(tmp_path, *args, "run", str(root), "--pipeline", "p")
    assert proc.returncode == 1, proc.stderr
    assert "syntax error" in proc.stderr and "LINE 1" in proc.stderr  # the real DuckDB echo...
    if debug:
        assert "Traceback" in proc.stderr
    assert_clean(proc.stdout + proc.stderr)  # ...without the secret or any piece of it


def test_serve_start_up_error_and_unexpected_errors(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj", {"p": pipeline(function=REF)}, odibi_yaml=ODIBI)
    proc = odibi(tmp_path, "serve", str(root), "--port", "0")
    assert proc.returncode != 0
    assert REF in proc.stderr
    assert_clean(proc.stdout + proc.stderr)
    debug = odibi(tmp_path, "--debug", "serve", str(root), "--port", "0")
    assert "Traceback" in debug.stderr
    assert_clean(debug.stdout + debug.stderr)
