"""The columns a read node delivers, known without reading data (for ``validate``).

Where a read node's schema comes from, in order:

1. With ``validate --sample``: a present input file (the first of the files source's glob, or
   the static path) is read exactly as a batch would read it — with the node's options, so
   declared types apply — and only its schema is kept; a Delta table's schema comes from its
   log. Nothing is written, and this is the only time ``validate`` reads data.
2. The declared ``schema`` option (column → type). ``validate`` takes it as the node's complete
   column list: declare every column the pipeline uses.
3. Kafka and Event Hubs reads: the key column (Kafka), the value (``string``/``bytes``) or the
   declared JSON ``schema``, and the source's metadata columns (Kafka: ``_topic``,
   ``_partition``, ``_offset``, ``_timestamp``, ``_headers``; Event Hubs: ``partition``,
   ``sequence_number``, ``offset``, ``enqueued_time``, ``partition_key``, ``properties``,
   ``system_properties``).

Otherwise the schema is unknown, and SQL downstream of the node is not bound (``validate``
says so). Options are read through :func:`option`, which accepts the options both as a mapping
and as a typed model.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import NodeConfig
from odibi_stream.connectors.eventhub_columns import META_TYPES as EVENTHUB_META
from odibi_stream.connectors.kafka_decode import META_TYPES as KAFKA_META
from odibi_stream.core.arrow_types import parse_schema
from odibi_stream.engines.base import Engine, Frame

_FILE_FORMATS = ("csv", "json", "jsonl", "parquet")


def option(options: Any, key: str, default: Any = None) -> Any:
    """``options[key]`` whether ``options`` is a mapping or a (pydantic) model.

    On a model, ``key`` is the YAML name: a field aliased to it (``schema_`` for ``schema``,
    whose own name would be pydantic's method) is found by its alias.
    """
    if options is None:
        return default
    if isinstance(options, Mapping):
        value = options.get(key, default)
    else:
        fields = getattr(type(options), "model_fields", {})
        name = next((n for n, f in fields.items() if f.alias == key), key)
        value = getattr(options, name, default) if name in fields else default
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    return default if value is None else value


def declared_schema(options: Any) -> dict[str, pa.DataType] | None:
    """The declared ``schema`` option as Arrow types, or None when there is none."""
    spec = option(options, "schema")
    if not spec:
        return None
    return parse_schema({str(k): str(v) for k, v in dict(spec).items()})


def empty_frame(engine: Engine, schema: pa.Schema) -> Frame:
    """An engine frame with ``schema`` and no rows."""
    return engine.from_arrow(schema.empty_table())


def read_frame(engine: Engine, node: NodeConfig, location: Location, sample: bool) -> tuple[Frame | None, str]:
    """The empty frame a read node delivers, and where its schema came from.

    Returns:
        (frame or None when unknown, ``"sample <path>"`` / ``"declared schema"`` / ``"kafka"`` /
        a reason it is unknown).
    """
    read = node.read
    assert read is not None
    if sample:
        found = _sample_schema(engine, read.format, location, read.options)
        if found is not None:
            schema, origin = found
            return empty_frame(engine, schema), f"sample {origin}"
    if read.format == "kafka":
        key = str(option(read.options, "key_column", "key"))
        return _stream_frame(engine, read.options, [(key, pa.string())], KAFKA_META, "kafka")
    if read.format == "eventhub":
        return _stream_frame(engine, read.options, [], EVENTHUB_META, "event hubs")
    declared = declared_schema(read.options)
    if declared:
        return empty_frame(engine, pa.schema(list(declared.items()))), "declared schema"
    why = "no declared schema" + ("" if sample else " (declare options.schema, or use --sample)")
    return None, why


def _stream_frame(
    engine: Engine,
    options: Any,
    keys: list[tuple[str, pa.DataType]],
    meta: Mapping[str, pa.DataType],
    origin: str,
) -> tuple[Frame | None, str]:
    """A message source's columns: key, decoded value, then the metadata the body lacks."""
    value_format = str(option(options, "value_format", "json"))
    if value_format == "string":
        values: list[tuple[str, pa.DataType]] = [("value", pa.string())]
    elif value_format == "bytes":
        values = [("value", pa.binary())]
    else:
        declared = declared_schema(options)
        if not declared:
            return None, "JSON values without a declared schema"
        values = list(declared.items())
    fields = [*keys, *values]
    names = {n for n, _ in fields}
    fields += [(n, t) for n, t in meta.items() if n not in names]
    return empty_frame(engine, pa.schema(fields)), f"{origin} columns"


def _sample_schema(engine: Engine, fmt: str, location: Location, options: Any) -> tuple[pa.Schema, str] | None:
    if fmt == "delta":
        return _delta_schema(location)
    if fmt not in _FILE_FORMATS or not location.is_local:
        return None
    path = _first_file(location.uri)
    if path is None:
        return None
    opts = options if isinstance(options, Mapping) else _as_mapping(options)
    result = engine.read_files([path], fmt, opts, location.storage_options)
    return engine.to_arrow(result.frame).schema, path


def _as_mapping(options: Any) -> dict[str, Any]:
    dump = getattr(options, "model_dump", None)
    return dict(dump(exclude_none=True)) if callable(dump) else {}


def _first_file(uri: str) -> str | None:
    """The first data file of a glob (or the file itself; or the first file of a folder)."""
    if os.path.isfile(uri):
        return uri
    pattern = os.path.join(uri, "**", "*") if os.path.isdir(uri) else uri
    for path in sorted(glob.glob(pattern, recursive=True)):
        name = os.path.basename(path)
        if os.path.isfile(path) and not name.startswith((".", "_")):
            return path
    return None


def _delta_schema(location: Location) -> tuple[pa.Schema, str] | None:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(location.uri, storage_options=dict(location.storage_options))
    except TableNotFoundError:
        return None
    return table.to_pyarrow_dataset().schema, location.uri
