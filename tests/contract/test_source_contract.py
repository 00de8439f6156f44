"""Source contract: every built-in source kind runs the exported suite.

For each kind: repeated plan → read → fold covers every record exactly once (with bounded
batches), a range read twice returns identical rows, plan is pure, and ranges/states survive a
JSON round trip (they are persisted in the checkpoint).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import IncrementalConfig, ReadConfig
from odibi_stream.connectors.base import SourceSpec
from odibi_stream.connectors.column_source import ColumnSpec
from odibi_stream.connectors.files import FilesSpec
from odibi_stream.testing.contracts import SourceCase, SourceContract

N_FILES = 7
ROWS_PER_FILE = 3


def _settled(path: Path, age: float) -> None:
    t = time.time() - age
    os.utime(path, (t, t))


def _files(fmt: str) -> Callable[[Path], tuple[SourceSpec, Callable[[int], None]]]:
    def make(root: Path) -> tuple[SourceSpec, Callable[[int], None]]:
        folder = root / "in"
        folder.mkdir()

        def add(start: int) -> None:
            for f in range(N_FILES):
                ids = [start + f * ROWS_PER_FILE + r for r in range(ROWS_PER_FILE)]
                path = folder / f"f{start:05d}-{f:02d}.{fmt}"
                if fmt == "csv":
                    path.write_text("id\n" + "".join(f"{i}\n" for i in ids))
                elif fmt == "jsonl":
                    path.write_text("".join(json.dumps({"id": i}) + "\n" for i in ids))
                else:
                    pq.write_table(pa.table({"id": ids}), path)
                _settled(path, 100 - f)

        inc = IncrementalConfig(mode="files", max_files_per_batch=3)
        read = ReadConfig(connection="c", format=fmt, path=f"in/*.{fmt}", incremental=inc)
        return FilesSpec("n", Location(uri=str(root / "in" / f"*.{fmt}")), read), add

    return make


def _column(fmt: str) -> Callable[[Path], tuple[SourceSpec, Callable[[int], None]]]:
    def make(root: Path) -> tuple[SourceSpec, Callable[[int], None]]:
        uri = root / "table"

        def add(start: int) -> None:
            ids = list(range(start, start + N_FILES * ROWS_PER_FILE))
            table = pa.table({"id": ids, "seq": ids})
            if fmt == "delta":
                write_deltalake(str(uri), table, mode="append")
            else:
                uri.mkdir(exist_ok=True)
                pq.write_table(table, uri / f"part-{start:05d}.parquet")

        inc = IncrementalConfig(mode="column", column="seq", max_records_per_batch=4)
        read = ReadConfig(connection="c", format=fmt, path="table", incremental=inc)
        return ColumnSpec("n", Location(uri=str(uri)), read), add

    return make


def _kafka(root: Path) -> tuple[SourceSpec, Callable[[int], None]]:
    from odibi_stream.connectors.kafka import KafkaSourceSpec
    from tests.kafka_fixtures import create_topic, local_bootstrap, produce

    bootstrap = local_bootstrap()
    topic = f"contract-{root.name}-{time.time_ns()}"
    create_topic(bootstrap, topic, 2)

    def add(start: int) -> None:
        ids = range(start, start + N_FILES * ROWS_PER_FILE)
        produce(bootstrap, topic, ({"id": i} for i in ids), key=None)

    inc = IncrementalConfig(mode="files", max_records_per_batch=4)
    read = ReadConfig(connection="c", format="kafka", topic=topic, incremental=inc)
    return KafkaSourceSpec("n", "p", {"bootstrap.servers": bootstrap}, read), add


KINDS = {
    "kafka": _kafka,
    "files-csv": _files("csv"),
    "files-jsonl": _files("jsonl"),
    "files-parquet": _files("parquet"),
    "column-delta": _column("delta"),
    "column-parquet": _column("parquet"),
}


class TestBuiltinSources(SourceContract):
    @pytest.fixture(params=sorted(KINDS))
    def source_case(self, request: pytest.FixtureRequest, tmp_path: Path) -> SourceCase:
        spec, add = KINDS[request.param](tmp_path)
        return SourceCase(spec=spec, add=add, total=N_FILES * ROWS_PER_FILE)
