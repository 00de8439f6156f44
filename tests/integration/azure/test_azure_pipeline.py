"""A whole pipeline on Azure storage through the CLI: files landing in one container, SQL, a
check, Delta in another, dead letters and part files on Blob, checkpoints in a third; and
nothing ever written to a local folder named after a URL."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from odibi_stream.clients.locations import resolve_location
from odibi_stream.config.loader import load_project
from tests.azurite_fixtures import AzuriteAccount
from tests.conftest import CLI, cli_env
from tests.integration.azure.azure_projects import AzureProject, azure_project

pytestmark = pytest.mark.timeout(300)


def run(project: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args, str(project)], cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=240
    )


def url_named_paths(*roots: Path) -> list[Path]:
    """Every file or folder under ``roots`` whose name looks like a URL or its scheme."""
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in [*dirnames, *filenames]:
                low = name.lower()
                if ":" in name or low.startswith(("abfs", "az", "wasb", "http")) or "@" in name:
                    found.append(Path(dirpath) / name)
    return found


@pytest.fixture
def az(tmp_path: Path, azurite: AzuriteAccount) -> Iterator[AzureProject]:
    project = azure_project(tmp_path / "proj", azurite, after_read="archive")
    yield project
    project.drop()


def test_files_on_blob_to_delta_on_blob_with_checkpoints_on_blob(az: AzureProject, tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    expected = az.land_many(n_files=5, rows=20)
    az.land("in-bad.jsonl", [500, 501], bad=['{"id": "not a number"}', "{broken"])
    az.land("in-neg.jsonl", [])  # an empty file is a batch of nothing
    done = run(az.root, cwd, "run")
    assert done.returncode == 0, done.stdout + done.stderr
    got = az.ids()
    assert got == {i: 1 for i in [*expected, 500, 501]}
    # The table holds each batch's transaction (pipeline/node, batch number) for idempotency.
    assert az.table().transaction_version("events/sink") is not None
    # Dead letters (parse errors) as jsonl parts on Blob, named deterministically.
    with az.fs(az.lake) as lake:
        parts = [f.name for f in lake.list("dlq")]
        assert parts and all(p.startswith("dlq/part-") and p.endswith("-raw-0.jsonl") for p in parts)
        records = [json.loads(line) for p in parts for line in lake.read_bytes(p).splitlines()]
    assert sorted(r["_odibi_record"] for r in records) == sorted(['{"id": "not a number"}', "{broken"])
    # Checkpoints in their own container; the landing files archived after commit.
    with az.fs(az.ckpt) as ckpt:
        names = [f.name for f in ckpt.list("_checkpoints", recursive=True)]
    assert any(n.startswith("_checkpoints/events/commits/") for n in names), names
    with az.fs(az.landing) as landing:
        left = [f.name for f in landing.list("in")]
        archived = [f.name for f in landing.list("archive/in")]
    assert left == [] and len(archived) == 7
    # A second run finds nothing new; nothing is duplicated.
    again = run(az.root, cwd, "run")
    assert again.returncode == 0, again.stderr
    assert az.ids() == got
    assert url_named_paths(az.root, cwd) == [], "nothing may land in a local folder named after a URL"


def test_part_file_sink_and_delta_dead_letters_on_blob(tmp_path: Path, azurite: AzuriteAccount) -> None:
    az = azure_project(tmp_path / "proj", azurite, dead_letter="delta", max_files=1)
    try:
        pipeline = az.root / "pipelines" / "events.yaml"
        text = pipeline.read_text().replace(
            "    write: {connection: lake, format: delta, path: tables/events, mode: append}",
            "    write: {connection: lake, format: delta, path: tables/events, mode: append}\n"
            "  - name: copy\n    depends_on: [shaped]\n"
            "    write: {connection: lake, format: parquet, path: parts/events}",
        )
        pipeline.write_text(text)
        az.land_many(n_files=2, rows=3)
        az.land("in-x.jsonl", [7], bad=["{nope"])
        done = run(az.root, tmp_path, "run")
        assert done.returncode == 0, done.stdout + done.stderr
        with az.fs(az.lake) as lake:
            parts = sorted(f.name for f in lake.list("parts/events"))
        assert parts == [f"parts/events/part-{b:020d}-copy-0.parquet" for b in range(3)]
        project = load_project(az.root)
        dlq = resolve_location(project, "lake", "dlq")
        from deltalake import DeltaTable

        table = DeltaTable(dlq.uri, storage_options=dlq.storage_options)
        assert table.to_pyarrow_table(columns=["_odibi_record"]).column(0).to_pylist() == ["{nope"]
        assert table.transaction_version("events/_dead_letter/raw") == 2
    finally:
        az.drop()


def test_validate_accepts_the_azure_project_without_touching_storage(az: AzureProject, tmp_path: Path) -> None:
    az.drop()  # validate compiles only: no container needs to exist
    done = run(az.root, tmp_path, "validate")
    assert done.returncode == 0, done.stdout + done.stderr
