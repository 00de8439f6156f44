"""PandasEngine transforms: SQL over several tables, Python functions, split, inspect."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest

from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import EngineError, TransformError


@pytest.fixture
def engine() -> PandasEngine:
    return PandasEngine()


def test_sql_joins_two_upstream_tables(engine: PandasEngine) -> None:
    orders = pa.table({"id": [1, 2, 3], "cust": [10, 20, 10], "amount": [5.0, 7.0, 1.0]})
    customers = pa.table({"cust": [10, 20], "name": ["ann", "bob"]})
    out = engine.sql(
        "SELECT c.name, sum(o.amount) AS total FROM orders o JOIN customers c USING (cust) GROUP BY 1 ORDER BY 1",
        {"orders": orders, "customers": customers},
    )
    assert out.to_pylist() == [{"name": "ann", "total": 6.0}, {"name": "bob", "total": 7.0}]


def test_sql_error_is_transform_error(engine: PandasEngine) -> None:
    with pytest.raises(TransformError, match="SQL transform failed"):
        engine.sql("SELECT nope FROM t", {"t": pa.table({"a": [1]})})


def test_sql_runs_in_utc(engine: PandasEngine) -> None:
    t = pa.table(
        {
            "ts": pa.array(
                [datetime(2026, 1, 1, 5, tzinfo=timezone.utc)], pa.timestamp("us", tz="UTC")
            )
        }
    )
    out = engine.sql(
        "SELECT hour(ts) AS h, ts = TIMESTAMP '2026-01-01 05:00:00' AS eq FROM t", {"t": t}
    )
    assert out.to_pylist() == [{"h": 5, "eq": True}]


def test_sql_in_parallel_threads(engine: PandasEngine) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            out = engine.sql("SELECT sum(a) AS s FROM t", {"t": pa.table({"a": list(range(i))})})
            assert out.column("s")[0].as_py() == sum(range(i))
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i + 1,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def double(df: pd.DataFrame, factor: int = 2) -> pd.DataFrame:
    return df.assign(v=df["v"] * factor)


def test_apply_single_input_with_params(engine: PandasEngine) -> None:
    out = engine.apply(double, {"x": pa.table({"v": [1, 2]})}, {"factor": 3})
    assert out.column("v").to_pylist() == [3, 6]


def test_apply_several_inputs_get_a_dict(engine: PandasEngine) -> None:
    def join(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
        return frames["a"].merge(frames["b"], on="k")

    out = engine.apply(
        join, {"a": pa.table({"k": [1, 2]}), "b": pa.table({"k": [2], "w": ["x"]})}, {}
    )
    assert out.to_pylist() == [{"k": 2, "w": "x"}]


def test_apply_keeps_timezone_aware_timestamps(engine: PandasEngine) -> None:
    ts = pa.array([datetime(2026, 1, 1, tzinfo=timezone.utc)], pa.timestamp("us", tz="UTC"))
    out = engine.apply(lambda df: df, {"x": pa.table({"ts": ts})}, {})
    assert out.column("ts").type.tz == "UTC"


def test_apply_errors_name_the_function(engine: PandasEngine) -> None:
    def broken(df: pd.DataFrame) -> pd.DataFrame:
        raise KeyError("missing")

    with pytest.raises(TransformError, match="broken failed: KeyError"):
        engine.apply(broken, {"x": pa.table({"v": [1]})}, {})
    with pytest.raises(TransformError, match="returned list, expected a pandas DataFrame"):
        engine.apply(lambda df: [1], {"x": pa.table({"v": [1]})}, {})


def test_split_keeps_types_order_and_null_rows_go_to_rest(engine: PandasEngine) -> None:
    t = pa.table(
        {
            "a": pa.array([5, -1, None, 3], pa.int32()),
            "s": pa.array(["w", "x", "y", "z"], pa.large_string()),
            "d": pa.array(
                [Decimal("1.10"), Decimal("2.20"), None, Decimal("3.30")], pa.decimal128(5, 2)
            ),
        }
    )
    good, rest = engine.split(t, "a >= 0")
    assert good.schema == t.schema and rest.schema == t.schema
    assert good.column("s").to_pylist() == ["w", "z"]
    assert rest.column("s").to_pylist() == ["x", "y"]
    with pytest.raises(TransformError):
        engine.split(t, "nope > 1")


def test_union_and_with_columns(engine: PandasEngine) -> None:
    u = engine.union([pa.table({"a": [1]}), pa.table({"a": [2.5], "b": ["x"]})])
    assert u.to_pylist() == [{"a": 1.0, "b": None}, {"a": 2.5, "b": "x"}]
    w = engine.with_columns(u, {"batch": 7, "b": "y"})
    assert w.column("batch").to_pylist() == [7, 7]
    assert w.column("b").to_pylist() == ["y", "y"]


def test_max_value_is_python_and_utc(engine: PandasEngine) -> None:
    naive = pa.table(
        {"ts": pa.array([datetime(2026, 1, 1, 3), datetime(2026, 1, 2)], pa.timestamp("us"))}
    )
    assert engine.max_value(naive, "ts") == datetime(2026, 1, 2, tzinfo=timezone.utc)
    est = timezone(timedelta(hours=-5))
    aware = pa.table(
        {"ts": pa.array([datetime(2026, 1, 1, tzinfo=est)], pa.timestamp("us", tz="-05:00"))}
    )
    got = engine.max_value(aware, "ts")
    assert got == datetime(2026, 1, 1, 5, tzinfo=timezone.utc) and got.utcoffset() == timedelta(0)
    assert engine.max_value(pa.table({"n": pa.array([], pa.int64())}), "n") is None
    with pytest.raises(EngineError):
        engine.max_value(naive, "nope")


def test_inspection_helpers(engine: PandasEngine) -> None:
    t = pa.table(
        {"a": [1], "d": [Decimal("1.5")], "ts": [datetime(2026, 1, 1, tzinfo=timezone.utc)]}
    )
    assert engine.count(t) == 1
    assert engine.columns(t) == ["a", "d", "ts"]
    assert engine.schema(t)["a"] == "int64"
    rec = json.loads(engine.to_json_records(t)[0])
    assert rec == {"a": 1, "d": "1.5", "ts": "2026-01-01T00:00:00+00:00"}
    assert engine.to_arrow(engine.from_arrow(t)) is t
