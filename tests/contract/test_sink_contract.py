"""Sink contract: every built-in sink kind runs the exported suite.

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

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import DeadLetterConfig, WriteConfig
from odibi_stream.connectors.base import SinkSpec
from odibi_stream.connectors.dead_letter import DeadLetterSpec, frame_rejects
from odibi_stream.connectors.delta import DeltaSinkSpec
from odibi_stream.connectors.files_sink import FileSinkSpec
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.testing.contracts import SinkCase, SinkContract

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


def _kafka_sink(root: Path) -> tuple[SinkSpec, Reader]:
    import time

    from odibi_stream.connectors.kafka import KafkaSinkSpec
    from tests.kafka_fixtures import consume_committed, create_topic, local_bootstrap

    bootstrap = local_bootstrap()
    topic = f"contract-{root.name}-{time.time_ns()}"
    create_topic(bootstrap, topic, 2)
    cfg = WriteConfig(connection="c", format="kafka", topic=topic)

    def rows(_root: Path) -> list[int]:
        return sorted(json.loads(m.value())["id"] for m in consume_committed(bootstrap, topic))

    return KafkaSinkSpec("n", "p", {"bootstrap.servers": bootstrap}, cfg), rows


def _make(kind: str, root: Path) -> tuple[SinkSpec, Reader]:
    if kind == "kafka":
        return _kafka_sink(root)
    loc = Location(uri=str(root / "out"))
    if kind.startswith("delta-"):
        mode = kind.split("-")[1]
        cfg = WriteConfig(
            connection="c", format="delta", path="out", mode=mode, merge_keys=["id"] if mode == "merge" else []
        )
        return DeltaSinkSpec("n", loc, cfg), _delta_rows
    if kind.startswith("file-"):
        fmt = kind.split("-")[1]
        return FileSinkSpec("n", loc, WriteConfig(connection="c", format=fmt, path="out")), _file_rows(fmt)
    fmt = kind.split("-")[1]
    spec = DeadLetterSpec(loc, DeadLetterConfig(connection="c", path="out", format=fmt), "p")
    return spec, _dead_letter_rows(fmt)


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


def _dead_letter_frame(ids: list[int], batch: int) -> pa.Table:
    return frame_rejects(PandasEngine(), pa.table({"id": ids}), "bad", "n", batch)


class TestBuiltinSinks(SinkContract):
    @pytest.fixture(params=KINDS)
    def sink_case(self, request: pytest.FixtureRequest, tmp_path: Path) -> SinkCase:
        kind = str(request.param)
        spec, rows = _make(kind, tmp_path)
        frame = _dead_letter_frame if kind.startswith("deadletter") else None
        return SinkCase(spec=spec, rows=lambda: rows(tmp_path), frame=frame)
