"""``validate`` rejects checkpoint locations and storage settings it cannot serve, with
``file:line`` and exit 2 — and no command ever creates a local folder named after a URL."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLI, cli_env, write_project
from tests.integration.azure.test_azure_pipeline import url_named_paths

PIPELINE = """\
pipeline: p
nodes:
  - {name: a, read: {connection: local, format: csv, path: in/*.csv, incremental: {mode: files}}}
  - {name: b, depends_on: [a], write: {connection: local, format: delta, path: out}}
"""

CONNECTIONS = """\
connections:
  local: {type: local, base_path: ./data}
  bus: {type: kafka, options: {bootstrap.servers: "127.0.0.1:1"}}
  lake: {type: azure_blob, account_name: acct, container: c1, auth: {account_key: k}}
  lake2: {type: azure_blob, account_name: acct2, container: c2, auth: {account_key: k}}
  nocontainer: {type: adls, account_name: acct}
"""

CASES = {
    "unsupported_scheme": ('checkpoint:\n  root: "s3://bucket/ckpt"\n', 3, "unsupported checkpoint root scheme 's3://'"),
    "malformed_abfss": ('checkpoint:\n  root: "abfss://nothing-here"\n', 3, "malformed abfss:// checkpoint root"),
    "ambiguous_az": ('checkpoint:\n  root: "az://c1/ckpt"\n', 3, "needs exactly one azure_blob/adls connection"),
    "unknown_connection": ("checkpoint:\n  connection: lak\n", 3, "checkpoint connection 'lak' is not defined"),
    "kafka_connection": ("checkpoint:\n  connection: bus\n", 3, "of type kafka, which cannot hold checkpoints"),
    "no_container": ("checkpoint:\n  connection: nocontainer\n", 3, "needs 'container'"),
    "memory_without_name": ('checkpoint:\n  root: "memory://"\n', 3, "memory:// checkpoint roots need a name"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_validate_rejects_checkpoint_locations_with_file_and_line(tmp_path: Path, case: str) -> None:
    block, line, message = CASES[case]
    odibi = f"project: v\n{block}{CONNECTIONS}"
    project = write_project(tmp_path / "p", {"p": PIPELINE}, odibi_yaml=odibi)
    for command in ("validate", "run"):
        done = subprocess.run(
            [*CLI, command, str(project)], cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert f"odibi.yaml:{line}: " in done.stderr and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert url_named_paths(tmp_path) == [], "a rejected URL must never become a local folder"


def test_storage_on_a_connection_without_storage_is_a_config_error(tmp_path: Path) -> None:
    pipeline = PIPELINE.replace("write: {connection: local, format: delta", "write: {connection: bus, format: parquet")
    project = write_project(tmp_path / "p", {"p": pipeline}, odibi_yaml=f"project: v\n{CONNECTIONS}")
    done = subprocess.run([*CLI, "validate", str(project)], env=cli_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "part files are written to local folders and azure_blob/adls connections" in done.stderr


def test_an_adls_connection_without_container_is_named(tmp_path: Path) -> None:
    pipeline = PIPELINE.replace("write: {connection: local, format: delta", "write: {connection: nocontainer, format: delta")
    project = write_project(tmp_path / "p", {"p": pipeline}, odibi_yaml=f"project: v\n{CONNECTIONS}")
    done = subprocess.run([*CLI, "validate", str(project)], env=cli_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "connection 'nocontainer': adls connections need 'container'" in done.stderr
    assert "odibi.yaml" in done.stderr
