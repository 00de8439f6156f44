"""Arrow type helpers shared by the pandas engine's readers and writers.

* :func:`parse_type` turns the type names users write in ``options.schema`` into Arrow types.
* :func:`convert_column` casts a text column to a type and reports which rows failed, so a bad
  value becomes a reject instead of failing the whole file.
* :func:`unify` concatenates tables from several files whose inferred schemas differ.

Timestamps are UTC inside: ``timestamp`` means ``timestamp[us, tz=UTC]``; naive text values
are taken as UTC, values with an offset are converted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pyarrow as pa

from odibi_stream.exceptions import ConfigError

_SIMPLE: dict[str, pa.DataType] = {
    "string": pa.string(),
    "str": pa.string(),
    "varchar": pa.string(),
    "int": pa.int64(),
    "integer": pa.int64(),
    "bigint": pa.int64(),
    "long": pa.int64(),
    "int64": pa.int64(),
    "int32": pa.int32(),
    "smallint": pa.int16(),
    "float": pa.float64(),
    "double": pa.float64(),
    "float64": pa.float64(),
    "float32": pa.float32(),
    "bool": pa.bool_(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "timestamp_ntz": pa.timestamp("us"),
}
_DECIMAL = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def parse_type(name: str) -> pa.DataType:
    """Return the Arrow type for a user-facing type name (``int``, ``decimal(10,2)`` ...).

    Raises:
        ConfigError: unknown type name, with the list of known ones as hint.
    """
    key = name.strip().lower()
    if key in _SIMPLE:
        return _SIMPLE[key]
    m = _DECIMAL.match(key)
    if m:
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    raise ConfigError(
        f"unknown column type {name!r}",
        hint=f"use one of {', '.join(sorted(_SIMPLE))} or decimal(p,s)",
    )


def parse_schema(spec: object) -> dict[str, pa.DataType]:
    """Parse ``options.schema`` (a mapping column → type name); empty when absent."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise ConfigError("option 'schema' must be a mapping of column name to type name")
    return {str(col): parse_type(str(t)) for col, t in spec.items()}


def is_aware_timestamp(t: pa.DataType) -> bool:
    """True for timezone-aware timestamp types (which need offset-tolerant parsing)."""
    return pa.types.is_timestamp(t) and t.tz is not None


def _parse_timestamps(col: pa.ChunkedArray | pa.Array, target: pa.DataType) -> pa.Array:
    """Parse text as UTC timestamps; unparsable values become null."""
    import pandas as pd  # the tolerant fallback only (~0.2 s to import)

    values = pd.Series(col.to_pylist(), dtype="object")
    parsed = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
    return pa.array(parsed, type=pa.timestamp("ns", tz="UTC")).cast(target)


def convert_column(
    col: pa.ChunkedArray | pa.Array, target: pa.DataType
) -> tuple[pa.Array, list[int]]:
    """Cast a column to ``target``; return the result and the indices of values that failed.

    Failed values become null in the result. Values that were already null are not failures.
    """
    if is_aware_timestamp(target) and (
        pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
    ):
        try:  # vectorised: every value is ISO 8601 with a zone offset (or null)
            whole = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
            return whole.cast(pa.timestamp("ns", tz="UTC")).cast(target), []
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # naive or odd texts: tolerant per-value parsing below
        out = _parse_timestamps(col, target)
        failed = [
            i
            for i, (src, dst) in enumerate(zip(col.to_pylist(), out.to_pylist(), strict=True))
            if src not in (None, "") and dst is None
        ]
        return out, failed
    try:
        whole = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        return whole.cast(target), []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    values: list[object] = []
    failed = []
    for i, v in enumerate(col.to_pylist()):
        try:
            values.append(pa.array([v]).cast(target)[0].as_py() if v not in (None, "") else None)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            values.append(None)
            failed.append(i)
    return pa.array(values, type=target), failed


def unify(tables: Sequence[pa.Table]) -> pa.Table:
    """Concatenate tables, promoting types; columns whose types cannot be reconciled become text.

    Missing columns become null. Row order follows ``tables`` order.
    """
    tables = [t for t in tables if t.num_columns or t.num_rows]
    if not tables:
        return pa.table({})
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    types: dict[str, set[pa.DataType]] = {}
    for t in tables:
        for f in t.schema:
            types.setdefault(f.name, set()).add(f.type)
    conflicted = {name for name, ts in types.items() if len(ts) > 1}
    fixed = []
    for t in tables:
        for name in conflicted & set(t.column_names):
            i = t.schema.get_field_index(name)
            t = t.set_column(i, name, _to_text(t.column(name)))
        fixed.append(t)
    return pa.concat_tables(fixed, promote_options="permissive")


def _to_text(col: pa.ChunkedArray) -> pa.Array:
    try:
        return col.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        import orjson

        return pa.array(
            [None if v is None else orjson.dumps(v, default=str).decode() for v in col.to_pylist()],
            pa.string(),
        )
