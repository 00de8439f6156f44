"""Dead letters: fixed schema, from rejects and from frames, idempotent Delta/jsonl writes."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import DeadLetterConfig
from odibi_stream.connectors.base import BatchKey
from odibi_stream.connectors.dead_letter import (
    DEAD_LETTER_SCHEMA,
    DeadLetterSpec,
    frame_rejects,
    to_frame,
)
from odibi_stream.engines.base import Reject
from odibi_stream.engines.pandas import PandasEngine

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)


def test_to_frame_schema_and_values() -> None:
    engine = PandasEngine()
    frame = to_frame(engine, [Reject("1,x", "bad", "f.csv:2")], "n", 4, clock=lambda: NOW)
    assert frame.schema == DEAD_LETTER_SCHEMA
    assert frame.to_pylist() == [
        {
            "_odibi_record": "1,x",
            "_odibi_error": "bad",
            "_odibi_source": "f.csv:2",
            "_odibi_node": "n",
            "_odibi_batch": 4,
            "_odibi_time": NOW,
        }
    ]


def test_frame_rejects_keeps_row_as_json() -> None:
    engine = PandasEngine()
    frame = frame_rejects(
        engine, pa.table({"a": [1], "b": ["x"]}), "check amount_positive failed", "n", 2
    )
    assert frame.schema == DEAD_LETTER_SCHEMA
    row = frame.to_pylist()[0]
    assert json.loads(row["_odibi_record"]) == {"a": 1, "b": "x"}
    assert (
        row["_odibi_error"] == "check amount_positive failed" and row["_odibi_source"] == "node:n"
    )


@pytest.mark.parametrize("fmt", ["delta", "jsonl"])
def test_dead_letter_sink_idempotent(tmp_path: Path, fmt: str) -> None:
    engine = PandasEngine()
    sink = DeadLetterSpec(
        Location(uri=str(tmp_path / "dl"), storage_options={}, is_local=True),
        DeadLetterConfig(connection="c", path="dl", format=fmt),
        "p",
    ).open()
    frame = to_frame(engine, [Reject("r", "e", "s")], "n", 1, clock=lambda: NOW)
    assert not sink.already_written(BatchKey("p", "n", 1))
    assert not sink.write(engine, frame, BatchKey("p", "n", 1)).skipped
    assert sink.write(engine, frame, BatchKey("p", "n", 1)).skipped
    assert sink.already_written(BatchKey("p", "n", 1))
    assert not sink.already_written(BatchKey("p", "other", 1))
    if fmt == "delta":
        dt = DeltaTable(str(tmp_path / "dl"))
        assert dt.transaction_version("p/_dead_letter/n") == 1
        assert dt.to_pyarrow_table().num_rows == 1
    else:
        lines = (tmp_path / "dl" / f"part-{1:020d}-n-0.jsonl").read_text().splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["_odibi_record"] == "r"
