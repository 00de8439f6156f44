"""ColumnSource: typed high-water marks, bounds with ties, lookback, parquet folders."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import IncrementalConfig, ReadConfig
from odibi_stream.connectors.column_source import ColumnSource, ColumnSpec
from odibi_stream.engines.pandas import PandasEngine

UTC = timezone.utc


def source(uri: str, fmt: str = "delta", column: str = "k", **inc: Any) -> ColumnSource:
    read = ReadConfig(
        connection="c",
        format=fmt,
        path="t",
        incremental=IncrementalConfig(mode="column", column=column, **inc),
    )
    return ColumnSpec("n", Location(uri=uri, storage_options={}, is_local=True), read).open()


def drain(src: ColumnSource, state: dict[str, Any]) -> tuple[list[list[Any]], dict[str, Any], str]:
    """Plan/read/fold until no data; return batches of column values, the state, and it as JSON."""
    engine = PandasEngine()
    out = []
    while (rng := src.plan(state)) is not None:
        rng = json.loads(json.dumps(rng))  # as persisted in offsets/N
        out.append(sorted(src.read(engine, rng).frame.column("id").to_pylist()))
        state = json.loads(json.dumps(src.fold(state, rng)))
    return out, state, json.dumps(state)


def test_int_hwm_with_max_records_and_ties(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    write_deltalake(uri, pa.table({"id": [1, 2, 3, 4, 5], "k": [10, 20, 20, 30, None]}))
    batches, state, _ = drain(source(uri, max_records_per_batch=2), {"hwm": None})
    assert batches == [[1, 2, 3], [4]]
    assert state["hwm"] == {"type": "int", "value": "30"}
    write_deltalake(uri, pa.table({"id": [6], "k": [31]}), mode="append")
    more, _, _ = drain(source(uri), state)
    assert more == [[6]]


def test_timestamp_hwm_keeps_timezone_and_works_for_naive_columns(tmp_path: Path) -> None:
    for tz in ("UTC", None):
        uri = str(tmp_path / f"t{tz}")
        ts = [datetime(2026, 1, 1, h) for h in (1, 2, 3)]
        write_deltalake(
            uri, pa.table({"id": [1, 2, 3], "k": pa.array(ts, pa.timestamp("us", tz=tz))})
        )
        src = source(uri, max_records_per_batch=2)
        rng = src.plan(src.initial_state())
        assert rng is not None and rng["hi"] == {
            "type": "timestamp",
            "value": "2026-01-01T02:00:00+00:00",
        }
        batches, state, _ = drain(src, src.initial_state())
        assert batches == [[1, 2], [3]]
        assert state["hwm"]["value"] == "2026-01-01T03:00:00+00:00"


def test_string_hwm(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    write_deltalake(uri, pa.table({"id": [1, 2, 3], "k": ["a", "b'", "c"]}))
    batches, state, _ = drain(source(uri, max_records_per_batch=2), {"hwm": None})
    assert batches == [[1, 2], [3]]
    assert state["hwm"] == {"type": "str", "value": "c"}


def test_lookback_rereads_recent_rows(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    write_deltalake(uri, pa.table({"id": [1, 2], "k": [t0, t0 + timedelta(minutes=50)]}))
    src = source(uri, lookback="30m")
    _, state, _ = drain(src, src.initial_state())
    write_deltalake(uri, pa.table({"id": [3], "k": [t0 + timedelta(hours=2)]}), mode="append")
    batches, _, _ = drain(src, state)
    assert batches == [[2, 3]]  # id 2 is within 30m before the previous hwm, id 1 is not


def test_numeric_lookback(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    write_deltalake(uri, pa.table({"id": [1, 2, 3], "k": [100, 150, 190]}))
    src = source(uri, lookback="50")
    _, state, _ = drain(src, {"hwm": {"type": "int", "value": "190"}})
    write_deltalake(uri, pa.table({"id": [4], "k": [200]}), mode="append")
    batches, _, _ = drain(src, state)
    assert batches == [[2, 3, 4]]


def test_parquet_folder_and_missing_table(tmp_path: Path) -> None:
    folder = tmp_path / "pq"
    folder.mkdir()
    pq.write_table(pa.table({"id": [1, 2], "k": [1, 2]}), folder / "a.parquet")
    src = source(str(folder), fmt="parquet")
    batches, state, _ = drain(src, src.initial_state())
    assert batches == [[1, 2]]
    assert src.lag(state) == {"rows": 0}
    missing = source(str(tmp_path / "nope"))
    assert missing.plan(missing.initial_state()) is None


def test_column_must_be_identifier(tmp_path: Path) -> None:
    from odibi_stream.exceptions import ConfigError

    with pytest.raises(ConfigError):
        source(str(tmp_path), column="k; DROP")
