"""values.py: exact, type-preserving round trips and SQL literals."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import duckdb
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from odibi_stream.core.values import decode_value, encode_value, sql_literal
from odibi_stream.exceptions import ConfigError


def roundtrip(v: object) -> object:
    return decode_value(json.loads(json.dumps(encode_value(v))))


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        2**70,
        -3,
        0.1,
        float("inf"),
        Decimal("12345678901234567890.000001"),
        "it's",
        date(2026, 2, 28),
        datetime(2026, 1, 1, 12, 30, 1, 123456, tzinfo=timezone.utc),
    ],
)
def test_roundtrip_exact_with_type(value: object) -> None:
    back = roundtrip(value)
    assert back == value and type(back) is type(value)


def test_timestamps_become_utc() -> None:
    est = timezone(timedelta(hours=-5))
    assert encode_value(datetime(2026, 1, 1, tzinfo=est)) == {
        "type": "timestamp",
        "value": "2026-01-01T05:00:00+00:00",
    }
    assert roundtrip(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_nanosecond_pandas_timestamp_roundtrip() -> None:
    ts = pd.Timestamp("2026-01-01T00:00:00.000000001Z")
    assert roundtrip(ts) == ts


@given(
    st.one_of(
        st.integers(),
        st.floats(allow_nan=False),
        st.text(),
        st.dates(),
        st.decimals(allow_nan=False, allow_infinity=False),
    )
)
def test_roundtrip_property(value: object) -> None:
    assert roundtrip(value) == value


def test_unsupported_types() -> None:
    with pytest.raises(ConfigError):
        encode_value(b"x")
    with pytest.raises(ValueError):
        decode_value({"type": "blob", "value": ""})


@pytest.mark.parametrize(
    "value",
    [
        1,
        -2.5,
        Decimal("3.10"),
        "o'brien \\ x",
        date(2026, 1, 2),
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
        True,
    ],
)
def test_sql_literal_is_understood_by_duckdb(value: object) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    got = con.sql(f"SELECT {sql_literal(value)} AS v").fetchall()[0][0]
    if isinstance(value, datetime):
        got = got.replace(tzinfo=timezone.utc)
    assert got == value


def test_sql_literal_spark_escapes_with_backslash() -> None:
    assert sql_literal("o'b\\", dialect="spark") == "'o\\'b\\\\'"
    assert sql_literal(None) == "NULL"
