"""``--version`` and ``--help`` import no data library and no optional extra (issue 10 #1).

Each command runs in a fresh interpreter; the modules it imported are read from
``sys.modules`` right after the command returns. A base install has pandas, DuckDB, deltalake
and pyarrow, but starting the CLI must not pay for them (or for an extra that may be missing).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import cli_env

HEAVY = (
    "pandas", "numpy", "pyarrow", "duckdb", "deltalake", "confluent_kafka", "pyspark", "azure",
    "apscheduler", "watchdog", "h11", "prometheus_client",
)

PROBE = """
import json, sys
from odibi_stream.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.stdin.readline())))
print("IMPORTED=" + json.dumps(heavy))
"""

COMMANDS = [
    ["--version"], ["--help"], ["run", "--help"], ["validate", "--help"], ["serve", "--help"],
    ["status", "--help"], ["trigger", "--help"], ["checkpoint", "--help"],
    ["checkpoint", "history", "--help"], ["pause", "--help"], ["retry", "--help"],
    ["skip", "--help"], ["schema", "--help"], ["init", "--help"], ["graph", "--help"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_start_up_imports_no_heavy_module(args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], input=json.dumps(HEAVY) + "\n",
        capture_output=True, text=True, env=cli_env(), timeout=60,
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("IMPORTED="))
    assert json.loads(line.removeprefix("IMPORTED=")) == [], proc.stdout


def test_importtime_of_version_stays_small() -> None:
    """``-X importtime`` agrees: no module of a heavy package appears at all."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "odibi_stream.cli.main", "--version"],
        capture_output=True, text=True, env=cli_env(), timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert imported & set(HEAVY) == set()
