"""Schema evolution policy of a Delta sink: compare a batch with its table, then act.

Per column of the batch against the table (system columns such as ``_valid_from`` and the merge's
op column are not compared):

==============  =================================================  ==============================
difference      example                                            add_columns / rescue / strict
==============  =================================================  ==============================
added           a column the table lacks                           added / rescued / **fails**
removed         a table column the batch lacks                     NULL / NULL / **fails**
narrower data   int32 into an int64 column                         cast up (no table change), all
widened         int64 into int32, float into double, decimal(p+)   table widened / widened / fails
narrowed        string into int, double into int, int64 → float    **fails** / rescued / **fails**
==============  =================================================  ==============================

*Rescued* fields leave their column (NULL) and go into ``_rescued_data``, one JSON object per
row (``{"col": value}``; NULL when nothing was rescued) — like Auto Loader. In ``rescue`` mode
the column exists from the table's first write, so the table's schema does not change when
the first odd field arrives. *Widening* rewrites the table with the wider type (delta-rs on
either engine; rare, and a retry finds it already done). Every change is returned as a
:class:`SchemaChange` that the sink records in the batch's commit entry (``checkpoint history``
shows it); ``strict`` raises :class:`SchemaMismatch` with the whole diff.

Lifecycle: the Delta sink calls :func:`conform` inside its table lock, after its idempotency
check and before writing, on every batch.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from odibi_stream.config.semantics import RESCUED_COLUMN, SYSTEM_COLUMNS
from odibi_stream.engines.base import Engine, Frame
from odibi_stream.engines.frames import arrow_schema, cast_columns, map_arrow, normal_type
from odibi_stream.exceptions import SchemaMismatch

_INTS = [pa.int8(), pa.int16(), pa.int32(), pa.int64()]


@dataclass
class SchemaChange:
    """What a batch changed in (or rescued from) its table's schema."""

    added: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    widened: dict[str, str] = field(default_factory=dict)
    rescued: list[str] = field(default_factory=list)
    narrowed: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The non-empty parts (JSON-ready), for the commit entry."""
        return {k: v for k, v in vars(self).items() if v}

    def describe(self) -> str:
        """One line: ``added: c (string); removed: d; retyped: n int32→int64``."""
        parts = []
        if self.added:
            parts.append("added: " + ", ".join(f"{c} ({t})" for c, t in self.added.items()))
        if self.removed:
            parts.append("removed: " + ", ".join(self.removed))
        retyped = {**self.widened, **self.narrowed}
        if retyped:
            parts.append("retyped: " + ", ".join(f"{c} {t}" for c, t in retyped.items()))
        return "; ".join(parts)


def widens(table_type: pa.DataType, data_type: pa.DataType) -> bool:
    """True if a ``table_type`` column can become ``data_type`` without losing any value."""
    t, d = table_type, data_type
    if t in _INTS and d in _INTS:
        return _INTS.index(d) > _INTS.index(t)
    if pa.types.is_float32(t) and pa.types.is_float64(d):
        return True
    if t in _INTS[:3] and pa.types.is_float64(d):
        return True  # up to 32-bit integers are exact in a double
    if pa.types.is_decimal(t) and pa.types.is_decimal(d):
        return bool(d.scale >= t.scale and d.precision - d.scale >= t.precision - t.scale and d != t)
    return False


@dataclass
class _Diff:
    change: SchemaChange
    cast_up: dict[str, pa.DataType]
    widen: dict[str, pa.DataType]
    narrowed: dict[str, pa.DataType]


def _diff(data: pa.Schema, table: pa.Schema, ignore: set[str]) -> _Diff:
    change, cast_up, widen, narrowed = SchemaChange(), {}, {}, {}
    for f in data:
        if f.name in ignore:
            continue
        if f.name not in table.names:
            change.added[f.name] = str(f.type)
            continue
        t = table.field(f.name).type
        if f.type == t or pa.types.is_null(f.type):
            if pa.types.is_null(f.type):
                cast_up[f.name] = t
            continue
        if widens(f.type, t):
            cast_up[f.name] = t
        elif widens(t, f.type):
            widen[f.name] = f.type
            change.widened[f.name] = f"{t}→{f.type}"
        else:
            narrowed[f.name] = t
            change.narrowed[f.name] = f"{t}→{f.type}"
    change.removed = [n for n in table.names if n not in data.names and n not in ignore]
    return _Diff(change, cast_up, widen, narrowed)


def conform(
    engine: Engine,
    frame: Frame,
    table: DeltaTable | None,
    policy: str,
    *,
    node: str,
    uri: str,
    ignore: Iterable[str] = (),
) -> tuple[Frame, SchemaChange]:
    """Make ``frame`` fit the table at ``uri`` under ``policy``; return it and what changed.

    Raises:
        SchemaMismatch: ``strict`` and any difference; ``add_columns`` and a narrowed type.
    """
    skip = set(SYSTEM_COLUMNS) | set(ignore)
    data = arrow_schema(frame)
    if table is None:
        return (_with_rescue_column(engine, frame, data) if policy == "rescue" else frame), SchemaChange()
    target = pa.schema([pa.field(f.name, normal_type(f.type)) for f in pa.schema(table.schema().to_arrow())])
    diff = _diff(data, target, skip)
    change = diff.change
    if policy == "strict" and change.as_dict():
        raise _mismatch(node, uri, policy, change)
    if policy == "add_columns" and diff.narrowed:
        raise _mismatch(node, uri, policy, SchemaChange(narrowed=change.narrowed))
    if policy == "rescue":
        rescue = [*change.added, *diff.narrowed]
        change.rescued, change.added, change.narrowed = rescue, {}, {}
        frame = _rescue(frame, data, rescue, diff.narrowed)
    if diff.widen:
        _widen_table(table, diff.widen)
    return cast_columns(frame, diff.cast_up), change


def _mismatch(node: str, uri: str, policy: str, change: SchemaChange) -> SchemaMismatch:
    return SchemaMismatch(
        f"node '{node}': the batch's columns differ from the Delta table {uri} "
        f"(schema evolution: {policy}): {change.describe()}",
        hint="set write.schema.evolution to add_columns (new columns, wider types) or rescue "
        "(odd fields into _rescued_data), or change the data upstream; narrowing a type is never allowed",
    )


def _with_rescue_column(engine: Engine, frame: Frame, data: pa.Schema) -> Frame:
    if RESCUED_COLUMN in data.names:
        return frame
    schema = data.append(pa.field(RESCUED_COLUMN, pa.string()))
    return map_arrow(frame, functools.partial(_rescue_rows, columns=(), nulled={}), schema)


def _rescue(frame: Frame, data: pa.Schema, columns: list[str], nulled: dict[str, pa.DataType]) -> Frame:
    fields = [
        pa.field(f.name, nulled.get(f.name, f.type))
        for f in data
        if f.name not in columns or f.name in nulled
    ]
    if RESCUED_COLUMN not in data.names:
        fields.append(pa.field(RESCUED_COLUMN, pa.string()))
    fn = functools.partial(_rescue_rows, columns=tuple(columns), nulled=dict(nulled))
    return map_arrow(frame, fn, pa.schema(fields))


def _rescue_rows(table: pa.Table, columns: tuple[str, ...], nulled: dict[str, pa.DataType]) -> pa.Table:
    """Move ``columns`` into ``_rescued_data`` (JSON per row); keep ``nulled`` ones as NULL."""
    moved = table.select(list(columns)).to_pylist() if columns else [{}] * table.num_rows
    texts = []
    for row in moved:
        kept = {k: v for k, v in row.items() if v is not None}
        texts.append(orjson.dumps(kept, default=str, option=orjson.OPT_SORT_KEYS).decode() if kept else None)
    for name in columns:
        i = table.schema.get_field_index(name)
        if name in nulled:
            table = table.set_column(i, pa.field(name, nulled[name]), pa.nulls(table.num_rows, nulled[name]))
        else:
            table = table.remove_column(i)
    rescued = pa.array(texts, pa.string())
    if RESCUED_COLUMN in table.column_names:
        return table.set_column(table.schema.get_field_index(RESCUED_COLUMN), RESCUED_COLUMN, rescued)
    return table.append_column(RESCUED_COLUMN, rescued)


def _widen_table(table: DeltaTable, types: dict[str, pa.DataType]) -> None:
    data = table.to_pyarrow_table()
    for name, t in types.items():
        i = data.schema.get_field_index(name)
        data = data.set_column(i, pa.field(name, t), data.column(i).cast(t))
    parts = list(table.metadata().partition_columns) or None
    write_deltalake(table, data, mode="overwrite", schema_mode="overwrite", partition_by=parts)
