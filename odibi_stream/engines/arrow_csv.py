"""CSV reading for the pandas engine: pyarrow.csv with per-row rejects.

Two kinds of bad rows are caught and turned into :class:`Reject` s while the good rows land:

* rows with the wrong number of fields (pyarrow's ``invalid_row_handler``);
* values that do not convert to a type declared in ``options.schema``.

Without a declared schema, types are inferred over the whole file, so a column mixing numbers
and text is read as text rather than failing.

Options: :class:`~odibi_stream.config.options.CsvReadOptions` (``header``: when false, column
names come from ``schema`` keys or are ``f0, f1, ...``; ``delimiter``, ``quote``; ``schema``:
explicit types win over inference; ``null_values``: the only field texts that become NULL,
default ``[""]``, so a value such as ``n/a`` in a typed column is a rejected row, never a silent
NULL).

A file that cannot be parsed at all (empty, not CSV) or that lacks a column declared in
``schema`` (with a header) raises ``RecordError`` naming the file; the runtime then sets that
file aside under ``on_error: dead_letter | skip`` (see ``runtime/file_rejects.py``).
"""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from odibi_stream.config.options import CsvReadOptions
from odibi_stream.core.arrow_types import convert_column, is_aware_timestamp, parse_schema
from odibi_stream.engines.base import Reject
from odibi_stream.exceptions import RecordError

_DEFAULT_BLOCK = 1 << 20


def _read_options(
    options: CsvReadOptions, schema: dict[str, pa.DataType], block_size: int
) -> pacsv.ReadOptions:
    if options.header:
        return pacsv.ReadOptions(block_size=block_size)
    if schema:
        return pacsv.ReadOptions(column_names=list(schema), block_size=block_size)
    return pacsv.ReadOptions(autogenerate_column_names=True, block_size=block_size)


def _read(
    path: str,
    options: CsvReadOptions,
    column_types: dict[str, pa.DataType],
    block_size: int,
    rejects: list[Reject],
    use_threads: bool = True,
) -> pa.Table:
    def on_invalid(row: Any) -> str:
        rejects.append(
            Reject(
                record=row.text,
                error=f"expected {row.expected_columns} fields, found {row.actual_columns}",
                source=f"{path}:{row.number}" if row.number is not None else path,
            )
        )
        return "skip"

    parse = pacsv.ParseOptions(
        delimiter=options.delimiter, quote_char=options.quote, invalid_row_handler=on_invalid
    )
    # Only the listed texts are NULL (pyarrow's default list would silently null 'n/a', 'NA'...).
    convert = pacsv.ConvertOptions(
        column_types=column_types, null_values=options.null_values, strings_can_be_null=True
    )
    read = _read_options(options, column_types, block_size)
    read.use_threads = use_threads
    return pacsv.read_csv(
        path,
        read_options=read,
        parse_options=parse,
        convert_options=convert,
    )


def _apply_schema(
    table: pa.Table,
    schema: dict[str, pa.DataType],
    path: str,
    delimiter: str,
    rejects: list[Reject],
) -> pa.Table:
    """Convert text columns to declared types; rows with an unconvertible value become rejects."""
    bad: dict[int, str] = {}
    original = table
    for name, target in schema.items():
        if name not in table.column_names or table.schema.field(name).type == target:
            continue
        converted, failed = convert_column(table.column(name), target)
        for i in failed:
            bad.setdefault(
                i, f"column {name!r}: cannot convert {table.column(name)[i].as_py()!r} to {target}"
            )
        table = table.set_column(table.schema.get_field_index(name), name, converted)
    if not bad:
        return table
    originals = _text_rows(original.to_pylist(), delimiter)
    for i in sorted(bad):
        rejects.append(Reject(record=originals[i], error=bad[i], source=path))
    keep = pa.array([i not in bad for i in range(table.num_rows)])
    return table.filter(keep)


def _text_rows(rows: list[dict[str, Any]], delimiter: str) -> list[str]:
    return [delimiter.join("" if v is None else str(v) for v in row.values()) for row in rows]


def read_csv_file(
    path: str, options: CsvReadOptions, *, use_threads: bool = True
) -> tuple[pa.Table, list[Reject]]:
    """Read one CSV file; return the good rows and the rejects (``use_threads``: as for JSON).

    Raises:
        RecordError: the file cannot be parsed at all (unreadable, not CSV).
    """
    schema = parse_schema(options.schema_)
    delimiter = options.delimiter
    rejects: list[Reject] = []
    # Offset-aware timestamps need tolerant parsing (naive text is UTC), done after the read.
    direct = {c: t for c, t in schema.items() if not is_aware_timestamp(t)}
    as_text = {c: pa.string() for c, t in schema.items() if is_aware_timestamp(t)}
    try:
        table = _read(path, options, {**direct, **as_text}, _DEFAULT_BLOCK, rejects, use_threads)
    except pa.ArrowInvalid as exc:
        rejects.clear()
        try:
            if schema:
                table = _read(
                    path, options, dict.fromkeys(schema, pa.string()), _DEFAULT_BLOCK, rejects
                )
            else:
                # Inference looks at the first block only; one block = whole-file inference.
                size = max(os.path.getsize(path) + 1, _DEFAULT_BLOCK)
                table = _read(path, options, {}, size, rejects)
        except pa.ArrowInvalid as exc2:
            raise RecordError(f"cannot parse CSV file {path}: {exc2}") from exc
    missing = [c for c in schema if c not in table.column_names]
    if missing and options.header:
        raise RecordError(
            f"CSV file {path} has no column(s) {', '.join(missing)} declared in options.schema",
            hint=f"its header is: {', '.join(table.column_names)}",
        )
    return _apply_schema(table, schema, path, delimiter, rejects), rejects
