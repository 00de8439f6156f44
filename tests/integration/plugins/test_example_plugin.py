"""A third-party plugin (examples/plugin, installed by `make test`) extends a real project.

Its connector and transform are found through entry points: ``validate`` and ``schema`` know
them, ``run`` writes through the plugin's sink, and a typo in the plugin's format name gets the
same did-you-mean as a built-in one.
"""

from __future__ import annotations

import gzip
import json
import subprocess
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.conftest import CLI, cli_env, land, write_project

if not any(ep.name == "jsonl_gz" for ep in entry_points(group="odibi_stream.connectors")):
    pytest.skip(
        "the example plugin is not installed: pip install -e examples/plugin (make test does)",
        allow_module_level=True,
    )

PIPE = """\
pipeline: greetings
nodes:
  - name: people
    read: {connection: local, format: csv, path: landing/*.csv,
           incremental: {mode: files, settle_seconds: 0}}
  - name: greeted
    depends_on: [people]
    transform: {function: greet, params: {greeting: hi}}
    write: {connection: local, format: jsonl_gz, path: lake/greetings}
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=cli_env(), timeout=120, check=False)


def test_plugin_format_and_transform_validate_schema_and_run(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"greetings": PIPE})
    land(root / "data" / "landing", "a.csv", "id,name\n1,ada\n2,bob\n")
    assert _cli("validate", str(root)).returncode == 0
    schema = _cli("schema")
    assert schema.returncode == 0 and '"jsonl_gz"' in schema.stdout
    run = _cli("run", str(root))
    assert run.returncode == 0, run.stderr
    parts = sorted((root / "data" / "lake" / "greetings").glob("part-*.jsonl.gz"))
    rows = [json.loads(line) for p in parts for line in gzip.decompress(p.read_bytes()).splitlines()]
    assert [r["greeting"] for r in rows] == ["hi ada", "hi bob"]


def test_a_typo_in_a_plugin_format_is_a_config_error_with_a_hint(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"greetings": PIPE.replace("jsonl_gz", "jsonl_gzz")})
    result = _cli("validate", str(root))
    assert result.returncode == 2
    assert "greetings.yaml:9" in result.stderr and "did you mean 'jsonl_gz'?" in result.stderr
