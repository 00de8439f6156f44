"""Source contract: every source kind, one suite.

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
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from odibi_stream.config.models import IncrementalConfig, ReadConfig
from odibi_stream.config.project import Location
from odibi_stream.connectors.base import Source
from odibi_stream.connectors.files import FileSource
from odibi_stream.connectors.table_incremental import ColumnSource
from odibi_stream.engines.pandas import PandasEngine

N_FILES = 7
ROWS_PER_FILE = 3


def _settled(path: Path, age: float) -> None:
    t = time.time() - age
    os.utime(path, (t, t))


def _files(fmt: str) -> Callable[[Path], tuple[Source, Callable[[int], None]]]:
    def make(root: Path) -> tuple[Source, Callable[[int], None]]:
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
        return FileSource("n", Location(uri=str(root / "in" / f"*.{fmt}")), read), add

    return make


def _column(fmt: str) -> Callable[[Path], tuple[Source, Callable[[int], None]]]:
    def make(root: Path) -> tuple[Source, Callable[[int], None]]:
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
        return ColumnSource("n", Location(uri=str(uri)), read), add

    return make


def _kafka(root: Path) -> tuple[Source, Callable[[int], None]]:
    from odibi_stream.connectors.kafka_source import KafkaSource
    from tests.kafka_fixtures import create_topic, local_bootstrap, produce

    bootstrap = local_bootstrap()
    topic = f"contract-{root.name}-{time.time_ns()}"
    create_topic(bootstrap, topic, 2)

    def add(start: int) -> None:
        ids = range(start, start + N_FILES * ROWS_PER_FILE)
        produce(bootstrap, topic, ({"id": i} for i in ids), key=None)

    inc = IncrementalConfig(mode="files", max_records_per_batch=4)
    read = ReadConfig(connection="c", format="kafka", topic=topic, incremental=inc)
    return KafkaSource("n", {"bootstrap.servers": bootstrap}, read, pipeline="p"), add


KINDS = {
    "kafka": _kafka,
    "files-csv": _files("csv"),
    "files-jsonl": _files("jsonl"),
    "files-parquet": _files("parquet"),
    "column-delta": _column("delta"),
    "column-parquet": _column("parquet"),
}


def _drain(src: Source, state: dict[str, Any]) -> tuple[list[int], dict[str, Any], int]:
    engine = PandasEngine()
    seen: list[int] = []
    batches = 0
    while (rng := src.plan(state)) is not None:
        assert src.plan(state) == rng, "plan must be pure"
        rng = json.loads(json.dumps(rng))
        first = engine.to_arrow(src.read(engine, rng).frame)
        second = engine.to_arrow(src.read(engine, rng).frame)
        assert first.equals(second), "a range must read the same rows every time"
        seen += first.column("id").to_pylist()
        state = json.loads(json.dumps(src.fold(state, rng)))
        src.on_commit(rng)
        batches += 1
    return seen, state, batches


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_record_exactly_once_across_bounded_batches(tmp_path: Path, kind: str) -> None:
    src, add = KINDS[kind](tmp_path)
    assert src.plan(src.initial_state()) is None
    add(0)
    seen, state, batches = _drain(src, src.initial_state())
    total = N_FILES * ROWS_PER_FILE
    assert sorted(seen) == list(range(total))
    assert batches > 1, "rate limits must split the data into several batches"
    add(1000)
    more, state, _ = _drain(src, state)
    assert sorted(more) == list(range(1000, 1000 + total))
    assert src.plan(state) is None
