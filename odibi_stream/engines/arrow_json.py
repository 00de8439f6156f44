"""JSON / JSON Lines reading for the pandas engine.

Fast path: ``pyarrow.json.read_json`` reads a whole newline-delimited file at C speed. When a
file fails (one bad line fails the whole file), it is re-read line by line with orjson so the
good lines land and each bad line becomes a :class:`Reject` whose ``source`` is ``file:line``.
A ``json`` file whose first character is ``[`` is read as one JSON array of objects.

Option ``schema`` (column → type name) fixes the types of the named columns; other columns are
inferred, or dropped with ``undeclared_fields: ignore`` (the schema is then the whole row, in
its order). A value that does not convert to its declared type rejects its line.
"""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
import pyarrow.json as pajson

from odibi_stream.config.options import JsonReadOptions
from odibi_stream.core.arrow_types import convert_column, is_aware_timestamp, parse_schema
from odibi_stream.engines.base import Reject
from odibi_stream.exceptions import RecordError


def _first_char(path: str) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip()
    return head[:1].decode("ascii", errors="replace")


def _fast(path: str, schema: dict[str, pa.DataType], use_threads: bool, extra: str) -> pa.Table:
    # Aware timestamps are parsed after the read (naive text is UTC), see arrow_types.
    explicit = pa.schema(
        [(c, pa.string() if is_aware_timestamp(t) else t) for c, t in schema.items()]
    )
    parse = pajson.ParseOptions(
        explicit_schema=explicit if schema else None, unexpected_field_behavior=extra
    )
    read = pajson.ReadOptions(use_threads=use_threads)
    table = pajson.read_json(path, read_options=read, parse_options=parse)
    for name, target in schema.items():
        if name in table.column_names and table.schema.field(name).type != target:
            converted, failed = convert_column(table.column(name), target)
            if failed:
                raise pa.ArrowInvalid(f"column {name!r} has values that are not {target}")
            table = table.set_column(table.schema.get_field_index(name), name, converted)
    return table


def _lines(path: str) -> list[tuple[int, bytes]]:
    with open(path, "rb") as fh:
        return [(n, line) for n, line in enumerate(fh, start=1) if line.strip()]


def _row_rejection(row: dict[str, Any], schema: dict[str, pa.DataType]) -> str | None:
    for name, target in schema.items():
        value = row.get(name)
        if value is None:
            continue
        _, failed = convert_column(
            pa.array(
                [value if not isinstance(value, (dict, list)) else orjson.dumps(value).decode()]
            ),
            target,
        )
        if failed:
            return f"field {name!r}: cannot convert {value!r} to {target}"
    return None


def _slow(path: str, schema: dict[str, pa.DataType]) -> tuple[pa.Table, list[Reject]]:
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for number, raw in _lines(path):
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            rejects.append(
                Reject(record=text, error=f"invalid JSON: {exc}", source=f"{path}:{number}")
            )
            continue
        reason = "not a JSON object" if not isinstance(obj, dict) else _row_rejection(obj, schema)
        if reason:
            rejects.append(Reject(record=text, error=reason, source=f"{path}:{number}"))
            continue
        rows.append(obj)
    return _rows_to_table(rows, schema), rejects


def _rows_to_table(rows: list[dict[str, Any]], schema: dict[str, pa.DataType]) -> pa.Table:
    if not rows:
        return pa.schema(list(schema.items())).empty_table() if schema else pa.table({})
    # Every key of every row, in first-seen order (from_pylist would take the first row's).
    names = list(dict.fromkeys(key for row in rows for key in row))
    table = pa.table({name: [row.get(name) for row in rows] for name in names})
    for name, target in schema.items():
        if name in table.column_names and table.schema.field(name).type != target:
            converted, _ = convert_column(table.column(name), target)
            table = table.set_column(table.schema.get_field_index(name), name, converted)
    return table


def _read_array(path: str, schema: dict[str, pa.DataType]) -> tuple[pa.Table, list[Reject]]:
    with open(path, "rb") as fh:
        try:
            data = orjson.loads(fh.read())
        except orjson.JSONDecodeError as exc:
            raise RecordError(f"cannot parse JSON file {path}: {exc}") from exc
    rows, rejects = [], []
    for i, obj in enumerate(data if isinstance(data, list) else [data]):
        reason = "not a JSON object" if not isinstance(obj, dict) else _row_rejection(obj, schema)
        if reason:
            rejects.append(
                Reject(record=orjson.dumps(obj).decode(), error=reason, source=f"{path}[{i}]")
            )
        else:
            rows.append(obj)
    return _rows_to_table(rows, schema), rejects


def read_json_file(
    path: str, options: JsonReadOptions, *, use_threads: bool = True
) -> tuple[pa.Table, list[Reject]]:
    """Read one JSON Lines (or JSON array) file; return the good rows and the rejects.

    ``use_threads=False`` when the caller decodes several files in parallel itself (Arrow's
    own block threads would only contend with it).

    Raises:
        RecordError: a JSON-array file that is not valid JSON as a whole.
    """
    schema = parse_schema(options.schema_)
    if _first_char(path) == "[":
        table, rejects = _read_array(path, schema)
    else:
        try:
            return _fast(path, schema, use_threads, options.undeclared_fields), []
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            table, rejects = _slow(path, schema)
    return (_declared_only(table, schema) if options.undeclared_fields == "ignore" else table), rejects


def _declared_only(table: pa.Table, schema: dict[str, pa.DataType]) -> pa.Table:
    """The declared columns in their order; absent ones NULL (what the fast path returns)."""
    columns = [
        table.column(name) if name in table.column_names else pa.nulls(table.num_rows, target)
        for name, target in schema.items()
    ]
    return pa.table(columns, names=list(schema))
