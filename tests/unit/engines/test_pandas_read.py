"""PandasEngine reads: every format with real files, bad rows become rejects."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import EngineError, RecordError


@pytest.fixture
def engine() -> PandasEngine:
    return PandasEngine()


def test_csv_reads_types_and_rejects_rows_with_wrong_field_count(
    tmp_path: Path, engine: PandasEngine
) -> None:
    f = tmp_path / "a.csv"
    f.write_text("id,name\n1,a\n2,b,extra\n3,c\n")
    result = engine.read_files([str(f)], "csv", {})
    assert result.frame.to_pylist() == [{"id": 1, "name": "a"}, {"id": 3, "name": "c"}]
    assert len(result.rejects) == 1
    assert result.rejects[0].record == "2,b,extra"
    assert "expected 2 fields, found 3" in result.rejects[0].error
    assert str(f) in result.rejects[0].source


def test_csv_explicit_schema_wins_and_unconvertible_values_are_rejected(
    tmp_path: Path, engine: PandasEngine
) -> None:
    f = tmp_path / "a.csv"
    f.write_text(
        "id;amount;ts\n1;1.5;2026-01-01 00:00:00\n2;oops;2026-01-01T01:00:00+01:00\n3;7;2026-01-02T00:00:00Z\n"
    )
    opts = {"delimiter": ";", "schema": {"id": "string", "amount": "double", "ts": "timestamp"}}
    result = engine.read_files([str(f)], "csv", opts)
    t = result.frame
    assert t.schema.field("id").type == pa.string()
    assert t.schema.field("amount").type == pa.float64()
    assert t.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert t.column("id").to_pylist() == ["1", "3"]
    assert t.column("ts").to_pylist() == [
        datetime(2026, 1, 1, tzinfo=timezone.utc),
        datetime(2026, 1, 2, tzinfo=timezone.utc),
    ]
    assert [r.record for r in result.rejects] == ["2;oops;2026-01-01T01:00:00+01:00"]
    assert "amount" in result.rejects[0].error


def test_csv_without_header_takes_names_from_schema(tmp_path: Path, engine: PandasEngine) -> None:
    f = tmp_path / "a.csv"
    f.write_text("1,x\n2,y\n")
    result = engine.read_files(
        [str(f)], "csv", {"header": False, "schema": {"k": "int", "v": "string"}}
    )
    assert result.frame.to_pylist() == [{"k": 1, "v": "x"}, {"k": 2, "v": "y"}]


def test_csv_mixed_column_without_schema_is_text_not_failure(
    tmp_path: Path, engine: PandasEngine
) -> None:
    f = tmp_path / "a.csv"
    lines = ["id,v"] + [f"{i},{i}" for i in range(200_000)] + ["200000,abc"]
    f.write_text("\n".join(lines) + "\n")
    result = engine.read_files([str(f)], "csv", {})
    assert result.frame.num_rows == 200_001
    assert result.frame.column("v")[-1].as_py() == "abc"


def test_jsonl_fast_path_and_fallback_keep_good_lines(tmp_path: Path, engine: PandasEngine) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": 1, "v": "a"}\n{"id": 2, "v": "b"}\n')
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 3, "v": "c"}\n{"id": 4, "v": \n[1,2]\n{"id": 5, "v": "e"}\n')
    result = engine.read_files([str(good), str(bad)], "jsonl", {})
    assert result.frame.column("id").to_pylist() == [1, 2, 3, 5]
    assert sorted(r.source for r in result.rejects) == [f"{bad}:2", f"{bad}:3"]
    assert {r.error.split(":")[0] for r in result.rejects} == {"invalid JSON", "not a JSON object"}
    assert any(r.record == '{"id": 4, "v": ' for r in result.rejects)


def test_json_schema_types_and_type_rejects(tmp_path: Path, engine: PandasEngine) -> None:
    f = tmp_path / "a.jsonl"
    f.write_text('{"id": "1", "ts": "2026-01-01T00:00:00Z"}\n{"id": "2", "ts": "not a time"}\n')
    result = engine.read_files([str(f)], "jsonl", {"schema": {"id": "string", "ts": "timestamp"}})
    assert result.frame.to_pylist() == [
        {"id": "1", "ts": datetime(2026, 1, 1, tzinfo=timezone.utc)}
    ]
    assert [r.source for r in result.rejects] == [f"{f}:2"]


def test_json_array_file(tmp_path: Path, engine: PandasEngine) -> None:
    f = tmp_path / "a.json"
    f.write_text(json.dumps([{"a": 1}, {"a": 2}, 3]))
    result = engine.read_files([str(f)], "json", {})
    assert result.frame.column("a").to_pylist() == [1, 2]
    assert len(result.rejects) == 1


def test_many_files_keep_path_order_and_unify_schemas(tmp_path: Path, engine: PandasEngine) -> None:
    paths = []
    for i in range(20):
        p = tmp_path / f"f{i:02d}.jsonl"
        row = {"id": i, "x": 1.5} if i % 2 else {"id": i, "y": "s"}
        p.write_text(json.dumps(row) + "\n")
        paths.append(str(p))
    paths.append(str(tmp_path / "conflict.jsonl"))
    Path(paths[-1]).write_text('{"id": "twenty"}\n')
    t = engine.read_files(paths, "jsonl", {}).frame
    assert t.column("id").to_pylist() == [str(i) for i in range(20)] + ["twenty"]
    assert set(t.column_names) == {"id", "x", "y"}


def test_parquet_files(tmp_path: Path, engine: PandasEngine) -> None:
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "1.parquet")
    pq.write_table(pa.table({"a": [3], "b": ["x"]}), tmp_path / "2.parquet")
    t = engine.read_files(
        [str(tmp_path / "1.parquet"), str(tmp_path / "2.parquet")], "parquet", {}
    ).frame
    assert t.to_pylist() == [{"a": 1, "b": None}, {"a": 2, "b": None}, {"a": 3, "b": "x"}]


def test_unparsable_parquet_raises_record_error(tmp_path: Path, engine: PandasEngine) -> None:
    f = tmp_path / "x.parquet"
    f.write_text("not parquet")
    with pytest.raises(RecordError):
        engine.read_files([str(f)], "parquet", {})


def test_empty_paths_give_empty_frame(engine: PandasEngine) -> None:
    result = engine.read_files([], "csv", {"schema": {"a": "int"}})
    assert result.frame.num_rows == 0
    assert result.frame.schema.field("a").type == pa.int64()


def test_read_delta_with_filter(tmp_path: Path, engine: PandasEngine) -> None:
    uri = str(tmp_path / "t")
    ts = [datetime(2026, 1, d, tzinfo=timezone.utc) for d in (1, 2, 3)]
    write_deltalake(uri, pa.table({"id": [1, 2, 3], "ts": ts}))
    t = engine.read_delta(uri, where="ts > TIMESTAMP '2026-01-01 12:00:00'")
    assert sorted(t.column("id").to_pylist()) == [2, 3]
    assert engine.read_delta(uri).num_rows == 3
    with pytest.raises(EngineError):
        engine.read_delta(str(tmp_path / "missing"))


def test_read_table_static_formats(tmp_path: Path, engine: PandasEngine) -> None:
    folder = tmp_path / "lookup"
    folder.mkdir()
    (folder / "a.csv").write_text("k,v\n1,x\n")
    (folder / "b.csv").write_text("k,v\n2,y\n")
    t = engine.read_table(str(folder), "csv", where="k = 2")
    assert t.to_pylist() == [{"k": 2, "v": "y"}]
    (folder / "c.csv").write_text("k,v\n3,z,zz\n")
    with pytest.raises(RecordError):
        engine.read_table(str(folder), "csv")
    pq.write_table(pa.table({"k": [1, 2]}), tmp_path / "p.parquet")
    assert engine.read_table(str(tmp_path / "p.parquet"), "parquet", where="k > 1").num_rows == 1


def test_undeclared_fields_ignore_on_a_json_array_and_a_line_that_falls_back(tmp_path: Path, engine: PandasEngine) -> None:
    arr = tmp_path / "a.json"
    arr.write_text('[{"id": 1, "extra": "x"}, {"v": "b"}]')
    lines = tmp_path / "b.jsonl"
    lines.write_text('{"id": 2, "extra": 1}\nnot json\n')
    options = {"schema": {"id": "int", "v": "string"}, "undeclared_fields": "ignore"}
    got = engine.read_files([str(arr), str(lines)], "json", options)
    table = engine.to_arrow(got.frame)
    assert table.column_names == ["id", "v"]
    assert table.to_pylist() == [{"id": 1, "v": None}, {"id": None, "v": "b"}, {"id": 2, "v": None}]
    assert [r.record for r in got.rejects] == ["not json"]


def test_a_field_first_seen_in_a_later_row_is_kept(tmp_path: Path, engine: PandasEngine) -> None:
    arr = tmp_path / "a.json"
    arr.write_text('[{"id": 1}, {"id": 2, "late": "x"}]')
    table = engine.to_arrow(engine.read_files([str(arr)], "json").frame)
    assert table.to_pylist() == [{"id": 1, "late": None}, {"id": 2, "late": "x"}]
