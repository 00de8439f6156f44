"""The source and sink contract suites on Azure storage (Azurite).

Same suites as the local backends run (``test_source_contract.py``, ``test_sink_contract.py``):
files sources on a Blob prefix, column sources on a Delta table in a container, Delta and
part-file sinks and both dead-letter formats writing to a container. Locations are resolved
from a real project's connection (``resolve_location``), exactly as the runtime does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from odibi_stream.clients.azure_files import BlobFileSystem
from odibi_stream.clients.locations import Location, resolve_location
from odibi_stream.config.loader import load_project
from odibi_stream.config.models import DeadLetterConfig, IncrementalConfig, ReadConfig, WriteConfig
from odibi_stream.connectors.base import SinkSpec, SourceSpec
from odibi_stream.connectors.column_source import ColumnSpec
from odibi_stream.connectors.dead_letter import DeadLetterSpec, frame_rejects
from odibi_stream.connectors.delta import DeltaSinkSpec
from odibi_stream.connectors.files import FilesSpec
from odibi_stream.connectors.files_sink import FileSinkSpec
from odibi_stream.core.clock import ManualClock
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.testing.contracts import SinkCase, SinkContract, SourceCase, SourceContract
from tests.azurite_fixtures import AzuriteAccount, azure_container, azurite
from tests.conftest import write_project

__all__ = ["azure_container", "azurite"]

N_FILES = 7
ROWS_PER_FILE = 3
PIPELINE = """\
pipeline: p
nodes:
  - {name: a, read: {connection: lake, format: delta, path: t}}
  - {name: b, depends_on: [a], write: {connection: lake, format: delta, path: o}}
"""


@pytest.fixture
def locate(
    azurite: AzuriteAccount, azure_container: str, tmp_path: Path
) -> Callable[[str], Location]:
    """``locate(path)``: the Location of ``path`` on an azure_blob connection (base ``zone``)."""
    odibi = f"""\
project: contracts
connections:
  lake:
    type: azure_blob
    container: {azure_container}
    base_path: zone
    endpoint: "{azurite.endpoint}"
    auth: {{account_key: "{azurite.account_key}"}}
"""
    project = load_project(write_project(tmp_path / "project", {"p": PIPELINE}, odibi_yaml=odibi))
    return lambda path: resolve_location(project, "lake", path)


@pytest.fixture
def zone(azurite: AzuriteAccount, azure_container: str) -> Iterator[BlobFileSystem]:
    with BlobFileSystem.open(azurite.target(azure_container), "zone") as fs:
        yield fs


def _file_bytes(fmt: str, ids: list[int]) -> bytes:
    if fmt == "csv":
        return ("id\n" + "".join(f"{i}\n" for i in ids)).encode()
    if fmt == "jsonl":
        return "".join(json.dumps({"id": i}) + "\n" for i in ids).encode()
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"id": ids}), sink)
    return bytes(sink.getvalue().to_pybytes())


SOURCE_KINDS = ["files-csv", "files-jsonl", "files-parquet", "column-delta"]


class TestAzureSources(SourceContract):
    @pytest.fixture(params=SOURCE_KINDS)
    def source_case(
        self, request: pytest.FixtureRequest, locate: Callable[[str], Location], zone: BlobFileSystem
    ) -> SourceCase:
        kind, fmt = str(request.param).split("-")
        if kind == "column":
            loc = locate("table")

            def add_rows(start: int) -> None:
                ids = list(range(start, start + N_FILES * ROWS_PER_FILE))
                table = pa.table({"id": ids, "seq": ids})
                write_deltalake(loc.uri, table, mode="append", storage_options=loc.storage_options)

            inc = IncrementalConfig(mode="column", column="seq", max_records_per_batch=4)
            read = ReadConfig(connection="lake", format="delta", path="table", incremental=inc)
            return SourceCase(ColumnSpec("n", loc, read), add_rows, N_FILES * ROWS_PER_FILE)

        def add_files(start: int) -> None:
            for f in range(N_FILES):
                ids = [start + f * ROWS_PER_FILE + r for r in range(ROWS_PER_FILE)]
                zone.upload(f"in/f{start:05d}-{f:02d}.{fmt}", _file_bytes(fmt, ids))

        glob = f"in/*.{fmt}"
        inc = IncrementalConfig(mode="files", max_files_per_batch=3, settle_seconds=5)
        read = ReadConfig(connection="lake", format=fmt, path=glob, incremental=inc)
        clock = ManualClock(datetime.now(timezone.utc) + timedelta(minutes=5))
        spec: SourceSpec = FilesSpec("n", locate(glob), read, clock)
        return SourceCase(spec, add_files, N_FILES * ROWS_PER_FILE)


SINK_KINDS = [
    "delta-append",
    "delta-merge",
    "file-parquet",
    "file-csv",
    "file-jsonl",
    "deadletter-delta",
    "deadletter-jsonl",
]


def _part_ids(zone: BlobFileSystem, fmt: str) -> list[int]:
    engine, ids = PandasEngine(), []
    for f in zone.list("out"):
        with zone.temp_download(f.name) as path:
            table = engine.read_files([str(path)], fmt, {}).frame
        ids += table.column("_odibi_record" if "_odibi_record" in table.column_names else "id").to_pylist()
    return [json.loads(i)["id"] if isinstance(i, str) else i for i in ids]


class TestAzureSinks(SinkContract):
    @pytest.fixture(params=SINK_KINDS)
    def sink_case(
        self, request: pytest.FixtureRequest, locate: Callable[[str], Location], zone: BlobFileSystem
    ) -> SinkCase:
        kind, fmt = str(request.param).split("-")
        loc = locate("out")
        spec: SinkSpec
        if kind == "delta":
            keys = ["id"] if fmt == "merge" else []
            cfg = WriteConfig(connection="lake", format="delta", path="out", mode=fmt, merge_keys=keys)
            spec = DeltaSinkSpec("n", loc, cfg)
        elif kind == "file":
            spec = FileSinkSpec("n", loc, WriteConfig(connection="lake", format=fmt, path="out"))
        else:
            spec = DeadLetterSpec(loc, DeadLetterConfig(connection="lake", path="out", format=fmt), "p")

        def rows() -> list[int]:
            if kind == "file" or (kind == "deadletter" and fmt == "jsonl"):
                return _part_ids(zone, "jsonl" if kind == "deadletter" else fmt)
            table = DeltaTable(loc.uri, storage_options=loc.storage_options).to_pyarrow_table()
            if kind == "deadletter":
                return [json.loads(r)["id"] for r in table.column("_odibi_record").to_pylist()]
            return list(table.column("id").to_pylist())

        def dead(ids: list[int], batch: int) -> pa.Table:
            return frame_rejects(PandasEngine(), pa.table({"id": ids}), "bad", "n", batch)

        return SinkCase(spec=spec, rows=rows, frame=dead if kind == "deadletter" else None)
