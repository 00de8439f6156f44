"""Frame operations the data-semantics layer needs, for both engines' frames.

Frames are opaque to the runtime; in the engine layer an Arrow table is the pandas engine's
frame and anything else a Spark DataFrame (pyspark is imported only for those). Row-local
logic that must give byte-identical results on both engines (masking personal data, rescuing
fields into JSON) is written once as a function of an Arrow table and run through
:func:`map_arrow`: directly on the pandas engine, in Spark's Python workers (``mapInArrow``)
on the Spark engine. Such functions must be picklable (module-level, or ``functools.partial``
of one) and must not depend on how rows are split into batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

Frame = Any
ArrowFn = Callable[[pa.Table], pa.Table]


def is_arrow(frame: Frame) -> bool:
    """True for the pandas engine's frames."""
    return isinstance(frame, pa.Table)


def normal_type(t: pa.DataType) -> pa.DataType:
    """The type as both engines store it in Delta (large/view strings → string, UTC zones → UTC)."""
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC" if t.tz else None)
    return t


def arrow_schema(frame: Frame) -> pa.Schema:
    """The frame's schema as Arrow types (normalised with :func:`normal_type`)."""
    if is_arrow(frame):
        schema = frame.schema
    else:
        from pyspark.sql.pandas.types import to_arrow_schema

        schema = to_arrow_schema(frame.schema, timezone="UTC")
    return pa.schema([pa.field(f.name, normal_type(f.type)) for f in schema])


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def _batches(fn: ArrowFn, schema: pa.Schema, it: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in it:
        out = fn(pa.Table.from_batches([batch]))
        yield from out.select(schema.names).cast(schema).to_batches()


def map_arrow(frame: Frame, fn: ArrowFn, schema: pa.Schema) -> Frame:
    """Apply the row-local ``fn`` (Arrow table → Arrow table of ``schema``) to every row."""
    if is_arrow(frame):
        return fn(frame).select(schema.names).cast(schema)
    import functools

    spark_frame: DataFrame = frame
    return spark_frame.mapInArrow(functools.partial(_batches, fn, schema), _spark_schema(schema))


def cast_columns(frame: Frame, types: Mapping[str, pa.DataType]) -> Frame:
    """Cast the named columns to the given Arrow types (safe casts: overflow is an error)."""
    if not types:
        return frame
    if is_arrow(frame):
        table: pa.Table = frame
        for name, t in types.items():
            i = table.schema.get_field_index(name)
            table = table.set_column(i, pa.field(name, t), table.column(i).cast(t))
        return table
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_type

    columns = {n: F.col(f"`{n}`").cast(from_arrow_type(t)) for n, t in types.items()}
    return frame.withColumns(columns)
