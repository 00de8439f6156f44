"""Parity: the same project on ``engine: pandas`` and ``engine: spark`` gives the same outputs.

Both copies run through the real CLI (``odibi-stream run``) in subprocesses, concurrently; the
only difference between them is the ``engine:`` line. Outputs are compared as row multisets
(floats at 1e-9 relative tolerance) and schemas through the mapping in README.md.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLI, cli_env
from tests.parity.cases import OUTPUTS, PARITY_SALT, make_project
from tests.parity.compare import diff_rows, load, rows_of, schema_of
from tests.spark_fixtures import require_spark

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run the parity project once per engine; return engine → project folder."""
    require_spark()
    root = tmp_path_factory.mktemp("parity")
    made = {e: make_project(root / e, e) for e in ("pandas", "spark")}
    procs = {
        e: subprocess.Popen(
            [*CLI, "run", str(p), "--quiet"],
            env={**cli_env(), "PARITY_SALT": PARITY_SALT},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for e, p in made.items()
    }
    for engine, proc in procs.items():
        out, err = proc.communicate(timeout=880)
        assert proc.returncode == 0, f"{engine} run failed:\n{out}\n{err[-4000:]}"
    return made


def test_switching_engine_changes_one_line(projects: dict[str, Path]) -> None:
    pandas_files = {
        p.relative_to(projects["pandas"]) for p in (projects["pandas"] / "pipelines").iterdir()
    }
    spark_files = {
        p.relative_to(projects["spark"]) for p in (projects["spark"] / "pipelines").iterdir()
    }
    assert pandas_files == spark_files
    for rel in pandas_files:
        assert (projects["pandas"] / rel).read_text() == (projects["spark"] / rel).read_text()
    a = (projects["pandas"] / "odibi.yaml").read_text().splitlines()
    b = (projects["spark"] / "odibi.yaml").read_text().splitlines()
    assert [(x, y) for x, y in zip(a, b, strict=True) if x != y] == [
        ("engine: pandas", "engine: spark")
    ]


@pytest.mark.parametrize("output", sorted(OUTPUTS))
def test_outputs_match(projects: dict[str, Path], output: str) -> None:
    rel, fmt = OUTPUTS[output]
    tables = {e: load(p, rel, fmt) for e, p in projects.items()}
    assert tables["pandas"].num_rows > 0, f"{output}: the case produced no rows"
    if fmt != "jsonl":  # jsonl has no schema of its own
        assert schema_of(tables["spark"]) == schema_of(tables["pandas"])
    left = rows_of(tables["pandas"], projects["pandas"])
    right = rows_of(tables["spark"], projects["spark"])
    assert diff_rows(left, right) == []
