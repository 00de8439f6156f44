"""Type-preserving encoding of scalar values for checkpoints, and SQL literal rendering.

High-water marks and watermarks are persisted as JSON inside checkpoint entries. JSON alone
would lose types (a timestamp becomes a string, a decimal a float), so every value is stored as
``{"type": ..., "value": ...}`` and decoded back to exactly the same Python value. Readers of
checkpoints call :func:`decode_value`; planners call :func:`sql_literal` to turn a decoded value
into a predicate that DuckDB and Spark SQL both understand.

Timestamps are always UTC inside: naive datetimes are taken as UTC, aware ones are converted.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from odibi_stream.exceptions import ConfigError

_NANOS = re.compile(r"\.\d{7,}")
_SUPPORTED = "int, float, decimal, str, bool, date or timestamp"


def to_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _plain(value: Any) -> Any:
    """Turn numpy scalars into Python scalars (they expose ``item``)."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    return value


def encode_value(value: Any) -> dict[str, Any]:
    """Encode a scalar as a JSON-safe ``{"type", "value"}`` dict that decodes exactly.

    Raises:
        ConfigError: the value's type cannot be a high-water mark or watermark.
    """
    value = _plain(value)
    if value is None:
        return {"type": "null", "value": None}
    if isinstance(value, bool):
        return {"type": "bool", "value": value}
    if isinstance(value, int):
        # As text: JSON readers outside Python may round integers above 2**53.
        return {"type": "int", "value": str(value)}
    if isinstance(value, float):
        return {"type": "float", "value": repr(value)}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, datetime):
        return {"type": "timestamp", "value": to_utc(value).isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, str):
        return {"type": "str", "value": value}
    raise ConfigError(
        f"cannot store a value of type {type(value).__name__} in a checkpoint",
        hint=f"use a column of type {_SUPPORTED}",
    )


def _decode_timestamp(text: str) -> datetime:
    if _NANOS.search(text):
        # Nanosecond precision (pandas Timestamps) does not fit a datetime.
        import pandas as pd

        stamp = pd.Timestamp(text)
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return to_utc(datetime.fromisoformat(text))


_DECODERS: dict[str, Any] = {
    "null": lambda v: None,
    "bool": bool,
    "int": int,
    "float": float,
    "decimal": Decimal,
    "timestamp": _decode_timestamp,
    "date": date.fromisoformat,
    "str": str,
}


def decode_value(encoded: dict[str, Any] | None) -> Any:
    """Decode what :func:`encode_value` produced (``None`` decodes to ``None``).

    Raises:
        ValueError: the dict is not a known encoding (a corrupt or newer checkpoint).
    """
    if encoded is None:
        return None
    kind = encoded.get("type")
    decoder = _DECODERS.get(str(kind))
    if decoder is None:
        raise ValueError(f"unknown encoded value type {kind!r}")
    return decoder(encoded["value"])


def _timestamp_text(value: datetime) -> str:
    utc = to_utc(value)
    nanos = getattr(utc, "nanosecond", 0)
    if nanos:
        return utc.strftime("%Y-%m-%d %H:%M:%S.%f") + f"{nanos:03d}"
    return utc.strftime("%Y-%m-%d %H:%M:%S.%f")


def sql_literal(value: Any, dialect: str = "duckdb") -> str:
    """Render ``value`` as a SQL literal for DuckDB (default) or Spark SQL (``dialect="spark"``).

    The dialects differ only for strings: DuckDB doubles quotes and keeps backslashes literally,
    Spark escapes both with a backslash.

    Timestamps are rendered as UTC wall-clock time without an offset
    (``TIMESTAMP '2026-01-01 00:00:00.000000'``); engines run their SQL sessions in UTC so the
    literal compares correctly with both timezone-aware and naive (UTC) columns.
    """
    value = _plain(value)
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return f"CAST('{value!r}' AS DOUBLE)"
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{_timestamp_text(value)}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        if dialect == "spark":
            escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        else:
            escaped = value.replace("'", "''")
        return f"'{escaped}'"
    raise ConfigError(
        f"cannot render a value of type {type(value).__name__} as SQL",
        hint=f"use a column of type {_SUPPORTED}",
    )
