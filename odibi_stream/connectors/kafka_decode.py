"""Turn Kafka messages into one Arrow table (plus rejects for undecodable values).

Columns, in order: the key (``key`` unless ``options.key_column`` renames it), the value
(``value_format: json`` → one column per top-level field; ``string`` → ``value`` text;
``bytes`` → ``value`` binary), then ``_topic``, ``_partition``, ``_offset``, ``_timestamp``
(timezone-aware UTC, milliseconds) and ``_headers`` (a JSON object text, null without headers).
A JSON value field with the same name as a metadata column wins; the metadata column is dropped.

JSON is validated per message with orjson (so a poison message is pinpointed by offset) and
the good values are then parsed together by Arrow's C++ JSON reader, which is what makes the
source fast.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

import orjson
import pyarrow as pa
import pyarrow.json as pajson

from odibi_stream.config.options import ValueFormat
from odibi_stream.core.arrow_types import convert_column
from odibi_stream.engines.base import Reject
from odibi_stream.exceptions import ConfigError

VALUE_FORMATS: tuple[str, ...] = get_args(ValueFormat)
_MAX_REJECT_CHARS = 64_000
META_TYPES: dict[str, pa.DataType] = {
    "_topic": pa.string(),
    "_partition": pa.int32(),
    "_offset": pa.int64(),
    "_timestamp": pa.timestamp("ms", tz="UTC"),
    "_headers": pa.string(),
}


@dataclass
class Decoded:
    """Messages split into metadata columns and raw values, before value decoding."""

    keys: list[str | None] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)
    meta: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name in META_TYPES})

    def add(self, msg: Any) -> None:
        """Append one ``confluent_kafka.Message`` (a data message, not an error event)."""
        key = msg.key()
        self.keys.append(None if key is None else key.decode("utf-8", "replace"))
        self.values.append(msg.value())
        self.meta["_topic"].append(msg.topic())
        self.meta["_partition"].append(msg.partition())
        self.meta["_offset"].append(msg.offset())
        ts_type, ts = msg.timestamp()
        self.meta["_timestamp"].append(ts if ts_type and ts >= 0 else None)
        headers = msg.headers()
        self.meta["_headers"].append(_headers_json(headers) if headers else None)

    def add_many(self, msgs: Sequence[Any], run: tuple[str, int, Sequence[int]] | None = None) -> None:
        """Append data messages (as :meth:`add`, one column at a time: a few C calls per
        message instead of a Python call and seven appends — the reader's hot loop).

        ``run``: ``(topic, partition, offsets)`` when the caller already knows the messages
        are one partition's and has read their offsets (spares three calls per message).
        """
        keys = [m.key() for m in msgs]
        self.keys.extend(None if k is None else k.decode("utf-8", "replace") for k in keys)
        self.values.extend([m.value() for m in msgs])
        meta = self.meta
        if run is None:
            meta["_topic"].extend([m.topic() for m in msgs])
            meta["_partition"].extend([m.partition() for m in msgs])
            meta["_offset"].extend([m.offset() for m in msgs])
        else:
            meta["_topic"].extend([run[0]] * len(msgs))
            meta["_partition"].extend([run[1]] * len(msgs))
            meta["_offset"].extend(run[2])
        stamps = [m.timestamp() for m in msgs]
        meta["_timestamp"].extend([ts if kind and ts >= 0 else None for kind, ts in stamps])
        heads = [m.headers() for m in msgs]
        meta["_headers"].extend([_headers_json(h) if h else None for h in heads])

    def source(self, i: int) -> str:
        """``topic/partition/offset`` of row ``i`` (the dead-letter ``source``)."""
        return f"{self.meta['_topic'][i]}/{self.meta['_partition'][i]}/{self.meta['_offset'][i]}"


def _headers_json(headers: Sequence[tuple[str, bytes | None]]) -> str:
    out = {k: (None if v is None else v.decode("utf-8", "replace")) for k, v in headers}
    return orjson.dumps(out).decode()


def check_value_format(fmt: str) -> str:
    """Validate ``options.value_format``.

    Raises:
        ConfigError: unknown format.
    """
    if fmt not in VALUE_FORMATS:
        raise ConfigError(f"unknown kafka value_format {fmt!r}", hint=f"use one of {', '.join(VALUE_FORMATS)}")
    return fmt


def decode_values(
    data: Decoded, value_format: str, schema: Mapping[str, pa.DataType]
) -> tuple[list[int], pa.Table, list[Reject]]:
    """Decode ``data.values``: (indices of the good rows, their value columns, rejects).

    Rejects name their record by ``data.source(i)``; other message sources (Event Hubs)
    reuse this by overriding :meth:`Decoded.source`.
    """
    rejects: list[Reject] = []
    if value_format == "json":
        keep, value_table = _json_values(data, schema, rejects)
    elif value_format == "string":
        keep, texts = _string_values(data, rejects)
        value_table = pa.table({"value": pa.array(texts, pa.string())})
    else:
        keep = list(range(len(data.values)))
        value_table = pa.table({"value": pa.array(data.values, pa.binary())})
    return keep, value_table, rejects


def to_table(
    data: Decoded, value_format: str, schema: Mapping[str, pa.DataType], key_column: str
) -> tuple[pa.Table, list[Reject]]:
    """Build the output table of a read: good rows and one reject per undecodable value."""
    keep, value_table, rejects = decode_values(data, value_format, schema)
    columns: dict[str, pa.Array] = {key_column: pa.array([data.keys[i] for i in keep], pa.string())}
    for name in value_table.column_names:
        columns[name] = value_table.column(name)
    for name, typ in META_TYPES.items():
        if name not in columns:
            columns[name] = pa.array([data.meta[name][i] for i in keep], typ)
    return pa.table(columns), rejects


def _reject(data: Decoded, i: int, error: str) -> Reject:
    raw = data.values[i] or b""
    return Reject(record=raw[:_MAX_REJECT_CHARS].decode("utf-8", "replace"), error=error, source=data.source(i))


def _string_values(data: Decoded, rejects: list[Reject]) -> tuple[list[int], list[str | None]]:
    keep: list[int] = []
    texts: list[str | None] = []
    for i, raw in enumerate(data.values):
        try:
            texts.append(None if raw is None else raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            rejects.append(_reject(data, i, f"value is not UTF-8: {exc}"))
            continue
        keep.append(i)
    return keep, texts


def _json_values(
    data: Decoded, schema: Mapping[str, pa.DataType], rejects: list[Reject]
) -> tuple[list[int], pa.Table]:
    fast = _json_fast_path(data.values)
    if fast is not None:
        keep, table = list(range(len(data.values))), fast
    else:
        keep, table = _json_row_by_row(data, rejects)
    if schema:
        table, bad = _apply_schema(table, schema)
        if bad:
            for row in sorted(bad, reverse=True):
                rejects.append(_reject(data, keep[row], "value does not match options.schema"))
            good = [r for r in range(len(keep)) if r not in bad]
            table = table.take(pa.array(good, pa.int64()))
            keep = [keep[r] for r in good]
    rejects.sort(key=lambda r: r.source)
    return keep, table


def _json_fast_path(values: list[bytes | None]) -> pa.Table | None:
    """Parse every value in one vectorised Arrow pass; None when any value needs a closer look.

    The common case (every value a one-line JSON object) costs one Arrow parse instead of a
    Python parse per message. Anything else — an invalid or non-object value, a multi-line
    value, mixed types Arrow cannot reconcile — shows as an error or a row-count mismatch, and
    the caller falls back to checking message by message (which finds the rejects).
    """
    lines = [b"{}" if raw is None else raw for raw in values]
    if not lines:
        return None
    buf = io.BytesIO(b"\n".join(lines))
    opts = pajson.ReadOptions(block_size=max(1 << 20, min(64 << 20, buf.getbuffer().nbytes + 1)))
    try:
        table = pajson.read_json(buf, read_options=opts)
    except pa.ArrowInvalid:
        return None
    return table if table.num_rows == len(lines) else None


def _json_row_by_row(data: Decoded, rejects: list[Reject]) -> tuple[list[int], pa.Table]:
    keep: list[int] = []
    lines: list[bytes] = []
    for i, raw in enumerate(data.values):
        if raw is None:
            # A tombstone (compaction delete marker): keep the row, all value fields null.
            keep.append(i)
            lines.append(b"{}")
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            rejects.append(_reject(data, i, f"invalid JSON: {exc}"))
            continue
        if not isinstance(obj, dict):
            rejects.append(_reject(data, i, f"JSON value is a {type(obj).__name__}, not an object"))
            continue
        keep.append(i)
        # Pretty-printed JSON would break the newline-delimited fast path: re-serialise it.
        lines.append(orjson.dumps(obj) if b"\n" in raw or b"\r" in raw else raw)
    return keep, _parse_lines(lines)


def _parse_lines(lines: list[bytes]) -> pa.Table:
    if not lines:
        return pa.table({})
    buf = io.BytesIO(b"\n".join(lines))
    opts = pajson.ReadOptions(block_size=max(1 << 20, min(64 << 20, buf.getbuffer().nbytes + 1)))
    try:
        table = pajson.read_json(buf, read_options=opts)
    except pa.ArrowInvalid:
        # Arrow cannot reconcile types across rows (e.g. a field that is sometimes an object,
        # sometimes a number): fall back to Python rows, mixed fields as JSON text.
        rows = [orjson.loads(line) for line in lines]
        names = list(dict.fromkeys(k for row in rows for k in row))
        cols = {n: _column([row.get(n) for row in rows]) for n in names}
        return pa.table(cols)
    if table.num_rows != len(lines):
        raise ValueError("arrow JSON reader returned a different row count than messages")
    return table


def _column(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else orjson.dumps(v).decode() for v in values], pa.string())


def _apply_schema(table: pa.Table, schema: Mapping[str, pa.DataType]) -> tuple[pa.Table, set[int]]:
    """Cast declared columns (missing ones become null); rows with uncastable values are bad."""
    bad: set[int] = set()
    cols: dict[str, pa.Array] = {}
    for name, typ in schema.items():
        if name in table.column_names:
            arr, failed = convert_column(table.column(name), typ)
            bad.update(failed)
            cols[name] = arr
        else:
            cols[name] = pa.nulls(table.num_rows, typ)
    for name in table.column_names:
        if name not in cols:
            cols[name] = table.column(name)
    return pa.table(cols) if cols else table, bad


def decoded_from_arrow(table: pa.Table) -> Decoded:
    """Messages from an engine's raw Kafka columns (Spark's Kafka source layout), sorted.

    Args:
        table: Columns ``key`` and ``value`` (binary), ``topic``, ``partition``, ``offset``,
            ``timestamp`` (any Arrow timestamp) and optionally ``headers`` (list of
            ``{key, value}`` structs), as returned by ``SparkEngine.read_kafka`` + ``to_arrow``.

    Returns:
        The same :class:`Decoded` the confluent-kafka path builds: rows ordered by partition key
        then offset, timestamps as epoch milliseconds, headers as JSON text (None when absent).
    """
    if table.num_rows == 0:
        return Decoded()
    import pyarrow.compute as pc

    # Column-wise (no Python call per message): the batch is sorted by the partition key text
    # ("t:0" < "t:10" < "t:2", as the confluent path's sorted keys), then by offset.
    part_key = pc.binary_join_element_wise(table.column("topic"), table.column("partition").cast(pa.string()), ":")
    table = table.append_column("_odibi_part_key", part_key).sort_by(
        [("_odibi_part_key", "ascending"), ("offset", "ascending")]
    )
    ts = table.column("timestamp")
    if pa.types.is_timestamp(ts.type):
        # The int64 under any timestamp type is UTC epoch time whatever its display zone.
        ts = ts.cast(pa.timestamp("ms", tz=ts.type.tz)).cast(pa.int64())
    out = Decoded()
    out.keys = _texts(table.column("key"))
    out.values = table.column("value").to_pylist()
    out.meta["_topic"] = table.column("topic").to_pylist()
    out.meta["_partition"] = table.column("partition").cast(pa.int64()).to_pylist()
    out.meta["_offset"] = table.column("offset").cast(pa.int64()).to_pylist()
    out.meta["_timestamp"] = pc.if_else(pc.less(ts, 0), pa.scalar(None, ts.type), ts).to_pylist()
    out.meta["_headers"] = _header_texts(table.column("headers")) if "headers" in table.column_names else [None] * table.num_rows
    return out


def _texts(column: pa.ChunkedArray) -> list[str | None]:
    """Binary values as text; invalid UTF-8 is replaced as ``bytes.decode(..., "replace")`` does."""
    try:
        return column.cast(pa.string()).to_pylist()  # type: ignore[no-any-return]
    except pa.ArrowInvalid:
        return [None if v is None else v.decode("utf-8", "replace") for v in column.to_pylist()]


def _header_texts(column: pa.ChunkedArray) -> list[str | None]:
    """Header lists as JSON text (None when absent or empty); only rows with headers cost a call."""
    import pyarrow.compute as pc

    out: list[str | None] = [None] * len(column)
    lengths = pc.fill_null(pc.list_value_length(column), 0)
    for i in pc.indices_nonzero(lengths).to_pylist():
        pairs = [(h["key"], h["value"]) for h in column[i].as_py()]
        out[i] = _headers_json(pairs)
    return out
