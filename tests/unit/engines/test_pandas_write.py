"""PandasEngine writes: Delta append/overwrite/merge with txn markers, and single files."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import ConfigError


@pytest.fixture
def engine() -> PandasEngine:
    return PandasEngine()


def rows(uri: str) -> list[dict[str, object]]:
    return sorted(DeltaTable(uri).to_pyarrow_table().to_pylist(), key=lambda r: str(r.get("id")))


def test_append_records_txn_and_evolves_schema(tmp_path: Path, engine: PandasEngine) -> None:
    uri = str(tmp_path / "t")
    v0 = engine.write_delta(pa.table({"id": [1]}), uri, mode="append", txn=("p/n", 0))
    v1 = engine.write_delta(
        pa.table({"id": [2], "extra": ["x"]}), uri, mode="append", txn=("p/n", 1)
    )
    assert (v0, v1) == (0, 1)
    assert DeltaTable(uri).transaction_version("p/n") == 1
    assert rows(uri) == [{"id": 1, "extra": None}, {"id": 2, "extra": "x"}]


def test_overwrite_replaces_rows(tmp_path: Path, engine: PandasEngine) -> None:
    uri = str(tmp_path / "t")
    engine.write_delta(pa.table({"id": [1, 2]}), uri, mode="append")
    engine.write_delta(pa.table({"id": [3]}), uri, mode="overwrite", txn=("p/n", 5))
    assert rows(uri) == [{"id": 3}]
    assert DeltaTable(uri).transaction_version("p/n") == 5


def test_merge_upserts_and_keeps_last_duplicate(tmp_path: Path, engine: PandasEngine) -> None:
    uri = str(tmp_path / "t")
    first = pa.table({"id": [1, 2, 2], "v": ["a", "b-old", "b"]})
    engine.write_delta(first, uri, mode="merge", merge_keys=["id"], txn=("p/n", 0))
    assert rows(uri) == [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
    second = pa.table({"id": [2, 3, 3, 2], "v": ["B-old", "C-old", "C", "B"]})
    version = engine.write_delta(second, uri, mode="merge", merge_keys=["id"], txn=("p/n", 1))
    assert rows(uri) == [{"id": 1, "v": "a"}, {"id": 2, "v": "B"}, {"id": 3, "v": "C"}]
    assert version == 1 and DeltaTable(uri).transaction_version("p/n") == 1


def test_merge_with_composite_key(tmp_path: Path, engine: PandasEngine) -> None:
    uri = str(tmp_path / "t")
    engine.write_delta(
        pa.table({"id": [1, 1], "k": ["x", "y"], "v": [1, 2]}),
        uri,
        mode="merge",
        merge_keys=["id", "k"],
    )
    engine.write_delta(
        pa.table({"id": [1], "k": ["y"], "v": [20]}), uri, mode="merge", merge_keys=["id", "k"]
    )
    got = sorted(DeltaTable(uri).to_pyarrow_table().to_pylist(), key=lambda r: r["k"])
    assert got == [{"id": 1, "k": "x", "v": 1}, {"id": 1, "k": "y", "v": 20}]
    with pytest.raises(ConfigError):
        engine.write_delta(pa.table({"id": [1]}), uri, mode="merge", merge_keys=["nope"])


def test_delta_accepts_pandas_nanosecond_timestamps(tmp_path: Path, engine: PandasEngine) -> None:
    df = pd.DataFrame({"id": [1], "ts": pd.to_datetime(["2026-01-01T00:00:00Z"])})
    frame = pa.Table.from_pandas(df, preserve_index=False)
    uri = str(tmp_path / "t")
    engine.write_delta(frame, uri, mode="append", partition_by=["id"])
    got = DeltaTable(uri).to_pyarrow_table()
    assert got.column("ts").to_pylist() == [datetime(2026, 1, 1, tzinfo=timezone.utc)]
    assert DeltaTable(uri).metadata().partition_columns == ["id"]


def test_empty_frame_without_columns_still_lands_the_marker(
    tmp_path: Path, engine: PandasEngine
) -> None:
    uri = str(tmp_path / "t")
    engine.write_delta(pa.table({"id": [1]}), uri, mode="append", txn=("p/n", 0))
    engine.write_delta(pa.table({}), uri, mode="append", txn=("p/n", 1))
    assert DeltaTable(uri).transaction_version("p/n") == 1
    assert rows(uri) == [{"id": 1}]


def test_write_files(tmp_path: Path, engine: PandasEngine) -> None:
    t = pa.table({"id": [1, 2], "s": ["a", None]})
    engine.write_file(t, str(tmp_path / "o.parquet"), "parquet")
    assert pq.read_table(tmp_path / "o.parquet").equals(t)
    engine.write_file(t, str(tmp_path / "o.csv"), "csv")
    assert (
        engine.read_files([str(tmp_path / "o.csv")], "csv", {}).frame.to_pylist() == t.to_pylist()
    )
    engine.write_file(t, str(tmp_path / "o.jsonl"), "jsonl")
    lines = (tmp_path / "o.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == t.to_pylist()
    with pytest.raises(ConfigError):
        engine.write_file(t, str(tmp_path / "o.xml"), "xml")
