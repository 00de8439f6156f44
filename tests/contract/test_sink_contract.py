"""Sink contract: every sink kind, one suite.

For each kind: writing batch N twice stores it once; ``already_written`` is false before,
true after, and monotone (true for every earlier batch once N is written); keys of other
nodes are independent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from odibi_stream.config.models import DeadLetterConfig, WriteConfig
from odibi_stream.config.project import Location
from odibi_stream.connectors.base import BatchKey
from odibi_stream.connectors.dead_letter import DeadLetterSink
from odibi_stream.connectors.sinks import DeltaSink, FileSink
from odibi_stream.engines.pandas import PandasEngine

Reader = Callable[[Path], list[int]]


def _delta_rows(root: Path) -> list[int]:
    return sorted(DeltaTable(str(root / "out")).to_pyarrow_table().column("id").to_pylist())


def _file_rows(fmt: str) -> Reader:
    def read(root: Path) -> list[int]:
        files = [str(p) for p in sorted((root / "out").glob(f"part-*.{fmt}"))]
        return sorted(PandasEngine().read_files(files, fmt, {}).frame.column("id").to_pylist())

    return read


def _dead_letter_rows(fmt: str) -> Reader:
    def read(root: Path) -> list[int]:
        if fmt == "delta":
            recs = (
                DeltaTable(str(root / "out")).to_pyarrow_table().column("_odibi_record").to_pylist()
            )
        else:
            files = [str(p) for p in sorted((root / "out").glob("part-*.jsonl"))]
            recs = (
                PandasEngine()
                .read_files(files, "jsonl", {})
                .frame.column("_odibi_record")
                .to_pylist()
            )
        return sorted(json.loads(r)["id"] for r in recs)

    return read


def _kafka_sink(root: Path):  # type: ignore[no-untyped-def]
    import time

    from odibi_stream.connectors.kafka_sink import KafkaSink
    from tests.kafka_fixtures import consume_committed, create_topic, local_bootstrap

    bootstrap = local_bootstrap()
    topic = f"contract-{root.name}-{time.time_ns()}"
    create_topic(bootstrap, topic, 2)
    cfg = WriteConfig(connection="c", format="kafka", topic=topic)

    def rows(_root: Path) -> list[int]:
        return sorted(json.loads(m.value())["id"] for m in consume_committed(bootstrap, topic))

    return KafkaSink("n", "p", {"bootstrap.servers": bootstrap}, cfg), rows


def _make(kind: str, root: Path):  # type: ignore[no-untyped-def]
    if kind == "kafka":
        return _kafka_sink(root)
    loc = Location(uri=str(root / "out"))
    if kind.startswith("delta-"):
        mode = kind.split("-")[1]
        cfg = WriteConfig(
            connection="c",
            format="delta",
            path="out",
            mode=mode,
            merge_keys=["id"] if mode == "merge" else [],
        )
        return DeltaSink("n", loc, cfg), _delta_rows
    if kind.startswith("file-"):
        fmt = kind.split("-")[1]
        return FileSink("n", loc, WriteConfig(connection="c", format=fmt, path="out")), _file_rows(
            fmt
        )
    fmt = kind.split("-")[1]
    return DeadLetterSink(
        loc, DeadLetterConfig(connection="c", path="out", format=fmt), "p"
    ), _dead_letter_rows(fmt)


KINDS = [
    "kafka",
    "delta-append",
    "delta-merge",
    "file-parquet",
    "file-csv",
    "file-jsonl",
    "deadletter-delta",
    "deadletter-jsonl",
]


def _frame(kind: str, ids: list[int], batch: int) -> pa.Table:
    if kind.startswith("deadletter"):
        from odibi_stream.connectors.dead_letter import frame_rejects

        return frame_rejects(PandasEngine(), pa.table({"id": ids}), "bad", "n", batch)
    return pa.table({"id": ids})


@pytest.mark.parametrize("kind", KINDS)
def test_write_twice_lands_once_and_already_written_is_monotone(tmp_path: Path, kind: str) -> None:
    sink, rows = _make(kind, tmp_path)
    engine = PandasEngine()
    for batch in range(3):
        key = BatchKey("p", "n", batch)
        assert not sink.already_written(key)
        frame = _frame(kind, [batch * 10, batch * 10 + 1], batch)
        assert not sink.write(engine, frame, key).skipped
        assert sink.write(engine, frame, key).skipped
        assert all(sink.already_written(BatchKey("p", "n", b)) for b in range(batch + 1))
        assert not sink.already_written(BatchKey("p", "n", batch + 1))
    assert rows(tmp_path) == [0, 1, 10, 11, 20, 21]
    assert not sink.already_written(BatchKey("p", "other", 0))
