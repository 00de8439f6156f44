"""Parity on Azure storage: the same pipeline on ``engine: pandas`` and ``engine: spark`` over
Azurite (files landing in a container → SQL + check → Delta in another container, dead letters
on Blob, checkpoints in a third) gives the same rows; and the Delta transaction ids each engine
writes are read by the other, so one pipeline can switch engines mid-stream — even replaying a
batch the other engine had already written — without duplicating a row.

The Spark engine reaches the containers through ABFS (``hadoop-azure``) with the Hadoop keys
derived from the same connection as delta-rs's options.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.azurite_fixtures import AzuriteAccount, azurite
from tests.conftest import CLI, cli_env
from tests.integration.azure.azure_projects import AzureProject, azure_project
from tests.spark_fixtures import require_spark

__all__ = ["azurite"]
pytestmark = pytest.mark.timeout(900)


def _run(project: Path, fault: str | None = None) -> int:
    env = cli_env()
    if fault:
        env["ODIBI_FAULT"] = fault
    done = subprocess.run(
        [*CLI, "run", str(project), "--quiet"], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode in (0, -9), f"run failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-4000:]}"
    return done.returncode


def _set_engine(az: AzureProject, engine: str) -> None:
    path = az.root / "odibi.yaml"
    lines = [f"engine: {engine}" if ln.startswith("engine:") else ln for ln in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")


def _land_input(az: AzureProject) -> None:
    az.land_many(n_files=4, rows=10)
    az.land("in-bad.jsonl", [900, 901], bad=['{"id": "x"}'])
    az.land("in-neg.jsonl", [], bad=['{"id": -3, "amount": -5, "kind": "k0"}'])  # fails the check


def _rows(az: AzureProject) -> list[tuple[int, int, str]]:
    table = az.table().to_pyarrow_table(columns=["id", "doubled", "kind"])
    return sorted(zip(*(table.column(c).to_pylist() for c in ("id", "doubled", "kind")), strict=True))


def _dead_letters(az: AzureProject) -> list[tuple[str, str]]:
    """(node, record) of every dead letter; parse rejects keep the raw line on both engines."""
    out = []
    with az.fs(az.lake) as lake:
        for f in lake.list("dlq"):
            for line in lake.read_bytes(f.name).splitlines():
                rec = json.loads(line)
                record = rec["_odibi_record"]
                if rec["_odibi_node"] != "raw":  # a failed check: the row as JSON, compare ids
                    record = str(json.loads(record)["id"])
                out.append((rec["_odibi_node"], record))
    return sorted(out)


@pytest.fixture(scope="module")
def projects(
    tmp_path_factory: pytest.TempPathFactory, azurite: AzuriteAccount
) -> Iterator[dict[str, AzureProject]]:
    """The pipeline run once per engine, each on its own three containers."""
    require_spark()
    root = tmp_path_factory.mktemp("azparity")
    made = {e: azure_project(root / e, azurite, engine=e, max_files=2) for e in ("pandas", "spark")}
    try:
        for az in made.values():
            _land_input(az)
        procs = {
            e: subprocess.Popen([*CLI, "run", str(az.root), "--quiet"], env=cli_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for e, az in made.items()
        }
        for engine, proc in procs.items():
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, f"{engine} run failed:\n{out}\n{err[-4000:]}"
        yield made
    finally:
        for az in made.values():
            az.drop()


def test_same_rows_on_both_engines(projects: dict[str, AzureProject]) -> None:
    pandas, spark = _rows(projects["pandas"]), _rows(projects["spark"])
    assert len(pandas) == 42
    assert spark == pandas


def test_same_dead_letters_on_both_engines(projects: dict[str, AzureProject]) -> None:
    pandas = _dead_letters(projects["pandas"])
    assert pandas == [("raw", '{"id": "x"}'), ("shaped", "-3")]
    assert _dead_letters(projects["spark"]) == pandas


def test_transaction_ids_match_and_are_readable_by_delta_rs(projects: dict[str, AzureProject]) -> None:
    versions = {e: az.table().transaction_version("events/sink") for e, az in projects.items()}
    assert versions["pandas"] is not None
    assert versions["spark"] == versions["pandas"], versions  # Spark's txn, read by delta-rs


def test_engines_switch_mid_stream_and_honour_each_others_transactions(
    tmp_path: Path, azurite: AzuriteAccount
) -> None:
    require_spark()
    az = azure_project(tmp_path / "switch", azurite, engine="spark", max_files=1)
    try:
        expected = az.land_many(n_files=2, rows=5)
        # Spark writes batch 0 (data + txn) and dies before committing it ...
        assert _run(az.root, fault="after_sink:1") == -9
        assert az.table().transaction_version("events/sink") == 0
        # ... pandas replays batch 0: its idempotency check reads Spark's txn and skips.
        _set_engine(az, "pandas")
        assert _run(az.root) == 0
        assert az.ids() == {i: 1 for i in expected}
        # pandas writes the next batch and dies before committing; Spark replays it.
        expected += az.land_many(n_files=1, rows=5, start=100)
        assert _run(az.root, fault="after_sink:1") == -9
        _set_engine(az, "spark")
        assert _run(az.root) == 0
        assert az.ids() == {i: 1 for i in expected}
        assert az.table().transaction_version("events/sink") == 2
    finally:
        az.drop()
