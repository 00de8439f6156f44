"""SparkEngine on local[1]: every Engine method against real files and real Delta tables."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from odibi_stream.engines import get_engine
from odibi_stream.engines.base import Engine
from odibi_stream.engines.spark_helpers import kafka_offsets, pandas_udf_transform
from odibi_stream.engines.spark_session import FETCH_COMMAND, find_jars, session_settings
from odibi_stream.exceptions import ConfigError, EngineError, RecordError, TransformError
from tests.spark_fixtures import require_spark, shared_engine

pytestmark = pytest.mark.timeout(300)
UTC = timezone.utc


@pytest.fixture(scope="module")
def engine() -> Any:
    """The process's shared local[1] SparkEngine."""
    require_spark()
    return shared_engine()


def rows(engine: Any, frame: Any) -> list[dict[str, Any]]:
    return sorted(engine.to_arrow(frame).to_pylist(), key=lambda r: json.dumps(r, default=str))


def delta_rows(uri: str) -> list[dict[str, Any]]:
    return sorted(DeltaTable(uri).to_pyarrow_table().to_pylist(), key=lambda r: str(r.get("id")))


def frame(engine: Any, **cols: list[Any]) -> Any:
    return engine.from_arrow(pa.table(cols))


# -- session / configuration ------------------------------------------------------------------
def test_engine_satisfies_protocol_and_starts_lazily() -> None:
    engine = get_engine("spark", {"master": "local[1]"})
    assert isinstance(engine, Engine)
    assert engine.name == "spark"
    assert not engine._holder.started()  # type: ignore[attr-defined]
    engine.close()  # closing an engine that never started is a no-op


def test_missing_jars_name_the_fetch_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ODIBI_SPARK_JARS", str(tmp_path / "nothing-here"))
    with pytest.raises(ConfigError) as info:
        find_jars()
    assert info.value.hint == FETCH_COMMAND == "bash scripts/fetch-spark-jars.sh"


def test_session_settings_merge_user_conf_over_defaults() -> None:
    master, settings = session_settings(
        {"master": "spark://h:7077", "conf": {"spark.sql.shuffle.partitions": 8, "x.flag": True}}
    )
    assert master == "spark://h:7077"
    assert settings["spark.sql.shuffle.partitions"] == "8"
    assert settings["x.flag"] == "true"
    assert settings["spark.ui.enabled"] == "false"
    assert "DeltaSparkSessionExtension" in settings["spark.sql.extensions"]
    with pytest.raises(ConfigError):
        session_settings({"mastr": "local"})


# -- reading ----------------------------------------------------------------------------------
def test_read_csv_with_schema_turns_bad_rows_into_rejects(tmp_path: Path, engine: Any) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "id,name,amount,at\n"
        "1,Ada,1.5,2026-11-01T00:07:00+00:00\n"
        "x,Bob,2.5,2026-11-01T00:08:00\n"
        "3,Cy\n"
        "4,Di,3.5,2026-11-01T01:09:00+01:00\n"
    )
    options = {"schema": {"id": "int64", "name": "string", "amount": "double", "at": "timestamp"}}
    result = engine.read_files([str(path)], "csv", options)
    assert rows(engine, result.frame) == [
        {"id": 1, "name": "Ada", "amount": 1.5, "at": datetime(2026, 11, 1, 0, 7, tzinfo=UTC)},
        {"id": 4, "name": "Di", "amount": 3.5, "at": datetime(2026, 11, 1, 0, 9, tzinfo=UTC)},
    ]
    assert sorted(r.record for r in result.rejects) == ["3,Cy", "x,Bob,2.5,2026-11-01T00:08:00"]
    assert {r.source for r in result.rejects} == {str(path)}
    assert engine.schema(result.frame) == {
        "id": "bigint",
        "name": "string",
        "amount": "double",
        "at": "timestamp",
    }


def test_read_csv_with_a_partial_schema_still_infers_the_rest(tmp_path: Path, engine: Any) -> None:
    path = tmp_path / "a.csv"
    path.write_text("id,name,score\n1,Ada,2.5\n2,Bob,3\n")
    result = engine.read_files([str(path)], "csv", {"schema": {"id": "int64", "name": "string"}})
    assert engine.schema(result.frame) == {"id": "bigint", "name": "string", "score": "double"}
    assert [r["score"] for r in rows(engine, result.frame)] == [2.5, 3.0]


def test_read_jsonl_infers_and_rejects_broken_lines(tmp_path: Path, engine: Any) -> None:
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    a.write_text('{"id": 1, "v": "a"}\n{"id": 2,\n')
    b.write_text('{"id": 3, "v": "c", "extra": true}\n')
    result = engine.read_files([str(a), str(b)], "jsonl", {"schema": {"id": "int"}})
    assert rows(engine, result.frame) == [
        {"extra": None, "id": 1, "v": "a"},
        {"extra": True, "id": 3, "v": "c"},
    ]
    assert [(r.record, r.source) for r in result.rejects] == [('{"id": 2,', str(a))]


def test_undeclared_fields_ignore_reads_the_schema_alone_on_both_engines(tmp_path: Path, engine: Any) -> None:
    a = tmp_path / "a.jsonl"
    a.write_text('{"id": 1, "v": "a", "extra": true}\n{"id": 2}\n{"id": "x", "v": "b"}\n{"id": 3,\n')
    options = {"schema": {"v": "string", "id": "int"}, "undeclared_fields": "ignore"}
    for each in (engine, get_engine("pandas")):
        result = each.read_files([str(a)], "jsonl", options)
        assert each.to_arrow(result.frame).column_names == ["v", "id"], each.name
        assert rows(each, result.frame) == [{"v": "a", "id": 1}, {"v": None, "id": 2}], each.name
        assert sorted(r.record for r in result.rejects) == ['{"id": "x", "v": "b"}', '{"id": 3,'], each.name


def test_a_read_counts_its_rows_and_a_frame_is_counted_once(tmp_path: Path, engine: Any) -> None:
    a = tmp_path / "a.jsonl"
    a.write_text('{"id": 1}\n{"id": 2}\nbroken\n')
    sc = engine.spark.sparkContext
    sc.setJobGroup("count-once", "jobs of this test")
    try:
        result = engine.read_files([str(a)], "jsonl", {"schema": {"id": "int"}, "undeclared_fields": "ignore"})
        assert result.rows == 2 and len(result.rejects) == 1
        jobs = len(sc.statusTracker().getJobIdsForGroup("count-once"))
        assert engine.count(result.frame) == engine.count(result.frame) == 2
        assert len(sc.statusTracker().getJobIdsForGroup("count-once")) == jobs  # no Spark job ran
        derived = result.frame.filter("id > 1")
        assert engine.count(derived) == engine.count(derived) == 1
        assert len(sc.statusTracker().getJobIdsForGroup("count-once")) > jobs
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]


def test_read_json_array_file(tmp_path: Path, engine: Any) -> None:
    path = tmp_path / "a.json"
    path.write_text('[{"id": 1}, {"id": 2}]')
    result = engine.read_files([str(path)], "json", {})
    assert rows(engine, result.frame) == [{"id": 1}, {"id": 2}]
    assert result.rejects == []


def test_read_parquet_and_empty_and_broken(tmp_path: Path, engine: Any) -> None:
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"id": [3], "x": ["y"]}), tmp_path / "b.parquet")
    paths = [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]
    result = engine.read_files(paths, "parquet", {})
    assert engine.count(result.frame) == 3
    assert set(engine.columns(result.frame)) == {"id", "x"}
    empty = engine.read_files([], "csv", {"schema": {"id": "int", "at": "timestamp"}})
    assert engine.count(empty.frame) == 0
    assert engine.schema(empty.frame) == {"id": "bigint", "at": "timestamp"}
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(RecordError):
        engine.read_files([str(tmp_path / "bad.parquet")], "parquet", {})
    with pytest.raises(ConfigError):
        engine.read_files(paths, "xml", {})


def test_read_delta_and_read_table(tmp_path: Path, engine: Any) -> None:
    uri = str(tmp_path / "t")
    engine.write_delta(frame(engine, id=[1, 2, 3]), uri, mode="append")
    assert rows(engine, engine.read_delta(uri, where="id >= 2")) == [
        {"id": 2},
        {"id": 3},
    ]
    assert engine.count(engine.read_table(uri, "delta")) == 3
    folder = tmp_path / "csvs"
    folder.mkdir()
    (folder / "a.csv").write_text("id\n1\n2\n")
    assert rows(engine, engine.read_table(str(folder), "csv", where="id > 1")) == [{"id": 2}]
    with pytest.raises(EngineError):
        engine.read_delta(str(tmp_path / "missing"))


def test_arrow_round_trip_keeps_types(engine: Any) -> None:
    table = pa.table(
        {
            "id": pa.array([1, None], pa.int64()),
            "at": pa.array([datetime(2026, 1, 1, tzinfo=UTC), None], pa.timestamp("us", "UTC")),
            "d": pa.array([Decimal("1.50"), None], pa.decimal128(10, 2)),
        }
    )
    back = engine.to_arrow(engine.from_arrow(table))
    assert back.to_pylist() == table.to_pylist()
    assert back.schema.field("id").type == pa.int64()


# -- transforming -----------------------------------------------------------------------------
def test_sql_views_are_isolated_between_parallel_calls(engine: Any) -> None:
    frames = [frame(engine, n=[i] * (i + 1)) for i in range(6)]

    def run(i: int) -> list[dict[str, Any]]:
        out = engine.sql("SELECT count(*) AS c, max(n) AS m FROM t", {"t": frames[i]})
        return rows(engine, out)

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(run, range(6)))
    assert results == [[{"c": i + 1, "m": i}] for i in range(6)]
    assert engine.spark.catalog.listTables() == []  # nothing left behind
    with pytest.raises(TransformError):
        engine.sql("SELECT nope FROM t", {"t": frames[0]})


def test_sql_joins_two_inputs(engine: Any) -> None:
    a = frame(engine, id=[1, 2], v=["a", "b"])
    b = frame(engine, id=[2, 3], w=["x", "y"])
    out = engine.sql("SELECT a.id, v, w FROM a JOIN b ON a.id = b.id", {"a": a, "b": b})
    assert rows(engine, out) == [{"id": 2, "v": "b", "w": "x"}]


def spark_fn(df: Any, factor: int) -> Any:
    return df.withColumn("y", df["x"] * factor)


def pandas_fn(df: pd.DataFrame, factor: int) -> pd.DataFrame:
    out = df.copy()
    out["y"] = out["x"] * factor + out["x"].sum()  # whole-frame semantics, as on pandas
    return out


def multi_fn(inputs: dict[str, Any]) -> Any:
    return inputs["a"].unionByName(inputs["b"])


def test_apply_spark_pandas_and_multi_input(engine: Any) -> None:
    df = frame(engine, x=[1, 2])
    assert rows(engine, engine.apply(spark_fn, {"df": df}, {"factor": 10})) == [
        {"x": 1, "y": 10},
        {"x": 2, "y": 20},
    ]
    assert rows(engine, engine.apply(pandas_fn, {"df": df}, {"factor": 10})) == [
        {"x": 1, "y": 13},
        {"x": 2, "y": 23},
    ]
    both = engine.apply(multi_fn, {"a": df, "b": df}, {})
    assert engine.count(both) == 4


def test_apply_errors_are_transform_errors(engine: Any) -> None:
    df = frame(engine, x=[1])

    def boom(df: Any) -> Any:
        raise ValueError("no")

    def wrong(df: Any) -> Any:
        return 42

    for fn in (boom, wrong):
        with pytest.raises(TransformError):
            engine.apply(fn, {"df": df}, {})


def test_pandas_udf_transform_runs_through_map_in_pandas(engine: Any) -> None:
    def band(pdf: pd.DataFrame, cut: int) -> pd.DataFrame:
        return pdf.assign(band=["L" if v > cut else "S" for v in pdf["x"]])

    wrapped: Callable[..., Any] = pandas_udf_transform(band)
    out = engine.apply(wrapped, {"df": frame(engine, x=[1, 5])}, {"cut": 2})
    assert rows(engine, out) == [{"band": "S", "x": 1}, {"band": "L", "x": 5}]
    typed = pandas_udf_transform(band, schema="x bigint, band string")
    out = engine.apply(typed, {"df": frame(engine, x=[3])}, {"cut": 2})
    assert rows(engine, out) == [{"band": "L", "x": 3}]


def test_split_puts_null_results_on_the_false_side(engine: Any) -> None:
    df = frame(engine, a=[1, -1, None])
    good, bad = engine.split(df, "a > 0")
    assert rows(engine, good) == [{"a": 1}]
    assert rows(engine, bad) == [{"a": -1}, {"a": None}]
    with pytest.raises(TransformError):
        engine.split(df, "nope > 0")


def test_union_and_with_columns(engine: Any) -> None:
    a = frame(engine, id=[1])
    b = frame(engine, id=[2], v=["x"])
    u = engine.with_columns(engine.union([a, b]), {"batch": 7, "note": None})
    assert rows(engine, u) == [
        {"id": 1, "v": None, "batch": 7, "note": None},
        {"id": 2, "v": "x", "batch": 7, "note": None},
    ]


def test_inspecting(engine: Any) -> None:
    at = [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, 5, tzinfo=UTC)]
    df = engine.from_arrow(pa.table({"n": [3, 9], "at": pa.array(at, pa.timestamp("us", "UTC"))}))
    assert engine.count(df) == 2
    assert engine.max_value(df, "n") == 9
    assert engine.max_value(df, "at") == at[1]
    assert engine.max_value(df, "at").tzinfo is not None
    assert engine.max_value(engine.split(df, "n > 100")[0], "n") is None
    with pytest.raises(EngineError):
        engine.max_value(df, "missing")
    assert engine.columns(df) == ["n", "at"]
    assert engine.to_json_records(df)[0] == '{"n":3,"at":"2026-01-01T00:00:00+00:00"}'


# -- writing ----------------------------------------------------------------------------------
def test_delta_append_and_overwrite_record_txn_for_delta_rs(tmp_path: Path, engine: Any) -> None:
    uri = str(tmp_path / "t")
    v0 = engine.write_delta(frame(engine, id=[1]), uri, mode="append", txn=("p/n", 0))
    v1 = engine.write_delta(frame(engine, id=[2], extra=["x"]), uri, mode="append", txn=("p/n", 1))
    assert (v0, v1) == (0, 1)
    assert DeltaTable(uri).transaction_version("p/n") == 1
    assert delta_rows(uri) == [{"id": 1, "extra": None}, {"id": 2, "extra": "x"}]
    v2 = engine.write_delta(frame(engine, id=[9]), uri, mode="overwrite", txn=("p/n", 2))
    assert v2 == 2
    assert DeltaTable(uri).transaction_version("p/n") == 2
    assert delta_rows(uri) == [{"id": 9}]


def test_delta_merge_upserts_last_row_per_key_with_txn(tmp_path: Path, engine: Any) -> None:
    uri = str(tmp_path / "t")
    first = frame(engine, id=[1, 2], v=["a", "b"])
    engine.write_delta(first, uri, mode="merge", merge_keys=["id"], txn=("p/m", 0))
    update = frame(engine, id=[2, 3, 3], v=["B", "c1", "c2"])
    engine.write_delta(update, uri, mode="merge", merge_keys=["id"], txn=("p/m", 1))
    assert DeltaTable(uri).transaction_version("p/m") == 1
    assert delta_rows(uri) == [
        {"id": 1, "v": "a"},
        {"id": 2, "v": "B"},
        {"id": 3, "v": "c2"},
    ]
    with pytest.raises(ConfigError):
        engine.write_delta(update, uri, mode="merge", merge_keys=["nope"])
    with pytest.raises(ConfigError):
        engine.write_delta(update, uri, mode="upsert")


def test_delta_write_of_columnless_batch_keeps_marker(tmp_path: Path, engine: Any) -> None:
    uri = str(tmp_path / "t")
    engine.write_delta(frame(engine, id=[1]), uri, mode="append", txn=("p/n", 0))
    empty = engine.from_arrow(pa.table({}))
    engine.write_delta(empty, uri, mode="append", txn=("p/n", 1))
    assert DeltaTable(uri).transaction_version("p/n") == 1
    assert delta_rows(uri) == [{"id": 1}]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_write_file_writes_exactly_one_file(tmp_path: Path, engine: Any, fmt: str) -> None:
    path = tmp_path / f"out.{fmt}"
    engine.write_file(frame(engine, id=[1, 2], v=["a", None]), str(path), fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    if fmt == "parquet":
        assert pq.read_table(path).to_pylist() == [{"id": 1, "v": "a"}, {"id": 2, "v": None}]
    elif fmt == "csv":
        assert path.read_text().splitlines() == ["id,v", "1,a", "2,"]
    else:
        assert [json.loads(line) for line in path.read_text().splitlines()] == [
            {"id": 1, "v": "a"},
            {"id": 2, "v": None},
        ]
    empty_path = tmp_path / f"empty.{fmt}"
    engine.write_file(engine.split(frame(engine, id=[1]), "id > 5")[0], str(empty_path), fmt)
    assert empty_path.exists()


# -- kafka ------------------------------------------------------------------------------------
def test_kafka_offsets_json() -> None:
    topics, starting, ending = kafka_offsets(
        {"orders:0": [5, 9], "orders:1": [0, 0], "b:2": [1, 4]}
    )
    assert topics == ["b", "orders"]
    assert json.loads(starting) == {"orders": {"0": 5, "1": 0}, "b": {"2": 1}}
    assert json.loads(ending) == {"orders": {"0": 9, "1": 0}, "b": {"2": 4}}
    for bad in ({"orders": [0, 1]}, {"orders:0": [5, 1]}, {"orders:x": [0, 1]}):
        with pytest.raises(ConfigError):
            kafka_offsets(bad)
