"""Writers of the pandas engine: Delta (append / overwrite / merge) and single files.

Delta writes go through delta-rs. The idempotency marker (``txn`` = app id + batch) is put in
the same commit as the data via ``CommitProperties(app_transactions=...)``; checking whether a
marker already exists is the caller's job (delta-rs accepts older versions silently).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from deltalake import CommitProperties, Transaction, write_deltalake

from odibi_stream.clients.delta import delta_table
from odibi_stream.config.options import CsvWriteOptions, FileWriteOptions, ParquetWriteOptions
from odibi_stream.exceptions import ConfigError, EngineError

WRITE_MODES = ("append", "overwrite", "merge")


def delta_compatible(table: pa.Table) -> pa.Table:
    """Cast types Delta cannot store: ns timestamps → us, non-UTC zones → UTC, null → string."""
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_timestamp(t):
            t = pa.timestamp("us", tz="UTC" if t.tz else None)
        elif pa.types.is_null(t):
            t = pa.string()
        fields.append(pa.field(f.name, t, f.nullable))
    target = pa.schema(fields)
    return table if target.equals(table.schema) else table.cast(target, safe=False)


def last_per_key(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """Keep the last row (by input order) for each key, in input order of the kept rows."""
    missing = [k for k in keys if k not in table.column_names]
    if missing:
        raise ConfigError(
            f"merge key column(s) {missing} not in the data",
            hint=f"columns are {table.column_names}",
        )
    indexed = table.append_column("__odibi_row", pa.array(range(table.num_rows), pa.int64()))
    last = indexed.group_by(list(keys), use_threads=False).aggregate([("__odibi_row", "max")])
    rows = pc.sort_indices(last.column("__odibi_row_max"))
    return table.take(pc.take(last.column("__odibi_row_max"), rows))


def _commit(txn: tuple[str, int] | None) -> CommitProperties | None:
    if txn is None:
        return None
    return CommitProperties(app_transactions=[Transaction(app_id=txn[0], version=txn[1])])


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def write_delta_table(
    table: pa.Table,
    uri: str,
    *,
    mode: str,
    merge_keys: Sequence[str],
    partition_by: Sequence[str],
    storage_options: Mapping[str, str] | None,
    txn: tuple[str, int] | None,
) -> int:
    """Write ``table`` to the Delta table at ``uri``; return the new table version."""
    if mode not in WRITE_MODES:
        raise ConfigError(
            f"unknown write mode {mode!r}", hint=f"use one of {', '.join(WRITE_MODES)}"
        )
    table = delta_compatible(table)
    opts = dict(storage_options or {})
    with delta_table(uri, opts) as existing:
        if table.num_columns == 0:
            # An upstream with no rows and no columns: commit the table's own schema, empty,
            # so the batch's transaction marker still lands.
            if existing is None:
                raise EngineError(f"cannot create Delta table {uri} from a batch without columns")
            table = pa.schema(existing.schema().to_arrow()).empty_table()
        if mode == "merge":
            table = last_per_key(table, merge_keys)
        try:
            if existing is not None and mode == "merge":
                predicate = " AND ".join(f"t.{_quote(k)} = s.{_quote(k)}" for k in merge_keys)
                existing.merge(
                    table,
                    predicate,
                    source_alias="s",
                    target_alias="t",
                    commit_properties=_commit(txn),
                    merge_schema=True,
                ).when_matched_update_all().when_not_matched_insert_all().execute()
            else:
                # Writing through the open table skips a full log replay (see delta_tables).
                write_deltalake(
                    existing if existing is not None else uri,
                    table,
                    mode="overwrite" if mode == "overwrite" else "append",
                    partition_by=list(partition_by) or None,
                    schema_mode="overwrite" if mode == "overwrite" else "merge",
                    storage_options=opts,
                    commit_properties=_commit(txn),
                )
        except (OSError, ConfigError):
            raise
        except Exception as exc:
            raise EngineError(f"delta {mode} to {uri} failed: {exc}") from exc
        if existing is not None:
            return int(existing.version())  # delta-rs advances the open table on write/merge
    with delta_table(uri, opts) as created:
        assert created is not None  # just written
        return int(created.version())


def write_single_file(table: pa.Table, path: str, options: FileWriteOptions) -> None:
    """Write ``table`` as one file at local ``path``; the options' type names the format."""
    if isinstance(options, ParquetWriteOptions):
        pq.write_table(table, path, compression=options.compression)
    elif isinstance(options, CsvWriteOptions):
        pacsv.write_csv(
            table,
            path,
            write_options=pacsv.WriteOptions(
                include_header=options.header, delimiter=options.delimiter
            ),
        )
    else:
        with open(path, "wb") as fh:
            for row in table.to_pylist():
                fh.write(orjson.dumps(row, default=str) + b"\n")
