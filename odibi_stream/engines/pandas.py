"""The pandas engine: Arrow tables end to end, DuckDB for SQL, pandas for user functions.

Frames are ``pyarrow.Table``. Every method is safe to call from several threads at once: no
per-call state lives on ``self``, and each SQL call opens its own DuckDB connection (DuckDB
connections must not be shared across threads), set to the UTC time zone so timestamp
literals mean UTC.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from odibi_stream.config.options import (
    CsvReadOptions,
    FileReadOptions,
    JsonReadOptions,
    file_read_options,
    file_write_options,
)
from odibi_stream.core.arrow_types import parse_schema, unify
from odibi_stream.core.values import to_utc
from odibi_stream.engines.arrow_csv import read_csv_file
from odibi_stream.engines.arrow_json import read_json_file
from odibi_stream.engines.arrow_write import write_delta_table, write_single_file
from odibi_stream.engines.base import OptionsArg, ReadResult, Reject
from odibi_stream.exceptions import ConfigError, EngineError, RecordError, TransformError

if TYPE_CHECKING:  # pandas and pyarrow.dataset (which imports pandas) load when first used
    import pyarrow.dataset as ds

MAX_READ_THREADS = 8
_EXTENSIONS = {
    "csv": (".csv",),
    "json": (".json", ".jsonl"),
    "jsonl": (".jsonl", ".json"),
    "parquet": (".parquet",),
}


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    return con


def _read_one(
    path: str, options: FileReadOptions, use_threads: bool = True
) -> tuple[pa.Table, list[Reject]]:
    if isinstance(options, CsvReadOptions):
        return read_csv_file(path, options, use_threads=use_threads)
    if isinstance(options, JsonReadOptions):
        return read_json_file(path, options, use_threads=use_threads)
    try:
        return pq.read_table(path), []
    except pa.ArrowInvalid as exc:
        raise RecordError(f"cannot read parquet file {path}: {exc}") from exc


def _local(uri: str) -> str:
    if "://" in uri and not uri.startswith("file://"):
        raise EngineError(
            f"{uri}: only Delta tables can be read from remote storage by the pandas engine",
            hint="store the data as Delta, or copy it to a local folder",
        )
    return uri.removeprefix("file://")


def _fn_name(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


class PandasEngine:
    """Engine protocol implementation on pyarrow + DuckDB + pandas (see engines.base)."""

    name = "pandas"

    # -- reading ---------------------------------------------------------------------------
    def read_files(
        self,
        paths: Sequence[str],
        fmt: str,
        options: OptionsArg = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> ReadResult:
        """Read local files in a bounded thread pool; rows keep the order of ``paths``."""
        opts = file_read_options(fmt, options)
        if not paths:
            declared = opts.schema_ if isinstance(opts, (CsvReadOptions, JsonReadOptions)) else None
            schema = parse_schema(declared)
            return ReadResult(pa.schema(list(schema.items())).empty_table())
        workers = max(1, min(MAX_READ_THREADS, len(paths), os.cpu_count() or 1))
        if workers == 1:  # one file (or one core): Arrow's block threads parallelise it
            parts = [_read_one(_local(p), opts) for p in paths]
        else:  # a file per thread: Arrow's own threads would only contend with ours
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="odibi-read") as pool:
                parts = list(pool.map(lambda p: _read_one(_local(p), opts, False), paths))
        rejects = [r for _, rs in parts for r in rs]
        return ReadResult(unify([t for t, _ in parts]), rejects)

    def read_delta(
        self, uri: str, storage_options: Mapping[str, str] | None = None, where: str | None = None
    ) -> pa.Table:
        """Read the current version of a Delta table, filtered by ``where`` through DuckDB."""
        try:
            dataset = DeltaTable(
                uri, storage_options=dict(storage_options or {})
            ).to_pyarrow_dataset()
        except TableNotFoundError as exc:
            raise EngineError(
                f"no Delta table at {uri}", hint="check the path, or write the table first"
            ) from exc
        return self._filter_dataset(dataset, where)

    def read_table(
        self,
        uri: str,
        fmt: str,
        storage_options: Mapping[str, str] | None = None,
        where: str | None = None,
        options: OptionsArg = None,
    ) -> pa.Table:
        """Read a whole Delta table or local folder/file of parquet/csv/json (static reads).

        Raises:
            RecordError: a csv/json record failed to parse (static reads tolerate no bad rows).
        """
        if fmt == "delta":
            return self.read_delta(uri, storage_options, where)
        root = Path(_local(uri))
        if fmt == "parquet":
            import pyarrow.dataset as ds

            return self._filter_dataset(ds.dataset(str(root), format="parquet"), where)
        exts = _EXTENSIONS.get(fmt)
        if exts is None:
            raise ConfigError(
                f"cannot read tables of format {fmt!r}", hint="use delta, parquet, csv or json"
            )
        files = (
            [str(root)]
            if root.is_file()
            else sorted(
                str(p)
                for p in root.rglob("*")
                if p.suffix in exts and not p.name.startswith((".", "_"))
            )
        )
        result = self.read_files(files, fmt, options)
        if result.rejects:
            first = result.rejects[0]
            raise RecordError(
                f"{len(result.rejects)} bad record(s) in {uri}; first at {first.source}: {first.error}"
            )
        return result.frame if where is None else self._filter_dataset(result.frame, where)

    def _filter_dataset(self, data: ds.Dataset | pa.Table, where: str | None) -> pa.Table:
        if where is None:
            return data if isinstance(data, pa.Table) else data.to_table()
        con = _connect()
        try:
            con.register("odibi_input", data)
            return con.sql(f"SELECT * FROM odibi_input WHERE {where}").to_arrow_table()
        except duckdb.Error as exc:
            raise EngineError(f"cannot filter with {where!r}: {exc}") from exc
        finally:
            con.close()

    def from_arrow(self, table: pa.Table) -> pa.Table:
        """Arrow tables are this engine's frames."""
        return table

    def to_arrow(self, frame: pa.Table) -> pa.Table:
        """Arrow tables are this engine's frames."""
        return frame

    # -- transforming ----------------------------------------------------------------------
    def sql(self, query: str, tables: Mapping[str, pa.Table]) -> pa.Table:
        """Run ``query`` on a fresh DuckDB connection with each frame registered by name."""
        con = _connect()
        try:
            for name, table in tables.items():
                con.register(name, table)
            relation = con.sql(query)
            if relation is None:
                raise TransformError(
                    "the SQL transform is not a query (it returned no rows)", hint="use a SELECT"
                )
            return relation.to_arrow_table()
        except duckdb.Error as exc:
            raise TransformError(f"SQL transform failed: {exc}") from exc
        finally:
            con.close()

    def apply(
        self, fn: Callable[..., Any], inputs: Mapping[str, pa.Table], params: Mapping[str, Any]
    ) -> pa.Table:
        """Call ``fn`` on pandas DataFrames; it must return a DataFrame."""
        import pandas as pd

        frames = {name: t.to_pandas() for name, t in inputs.items()}
        arg: Any = next(iter(frames.values())) if len(frames) == 1 else frames
        try:
            result = fn(arg, **params)
        except Exception as exc:
            raise TransformError(
                f"transform {_fn_name(fn)} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(result, pd.DataFrame):
            raise TransformError(
                f"transform {_fn_name(fn)} returned {type(result).__name__}, expected a pandas DataFrame",
                hint="return the DataFrame at the end of the function",
            )
        try:
            return pa.Table.from_pandas(result, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise TransformError(
                f"transform {_fn_name(fn)} returned columns Arrow cannot store: {exc}"
            ) from exc

    def split(self, frame: pa.Table, predicate: str) -> tuple[pa.Table, pa.Table]:
        """Evaluate ``predicate`` in DuckDB once; filter in Arrow so column types are kept."""
        con = _connect()
        try:
            con.register("odibi_input", frame)
            mask = (
                con.sql(f"SELECT (({predicate}) IS TRUE) AS m FROM odibi_input")
                .to_arrow_table()
                .column("m")
            )
        except duckdb.Error as exc:
            raise TransformError(f"cannot evaluate {predicate!r}: {exc}") from exc
        finally:
            con.close()
        return frame.filter(mask), frame.filter(pc.invert(mask))

    def union(self, frames: Sequence[pa.Table]) -> pa.Table:
        """Concatenate; types are promoted, missing columns become null."""
        return unify(frames)

    def with_columns(self, frame: pa.Table, values: Mapping[str, Any]) -> pa.Table:
        """Add (or replace) constant columns."""
        for name, value in values.items():
            scalar = pa.scalar(value)
            column = pa.array([value] * frame.num_rows, type=scalar.type)
            if name in frame.column_names:
                frame = frame.set_column(frame.schema.get_field_index(name), name, column)
            else:
                frame = frame.append_column(name, column)
        return frame

    # -- inspecting ------------------------------------------------------------------------
    def count(self, frame: pa.Table) -> int:
        """Number of rows."""
        return int(frame.num_rows)

    def max_value(self, frame: pa.Table, column: str) -> Any:
        """Max as a Python value; timestamps are aware UTC (naive ones are taken as UTC)."""
        if column not in frame.column_names:
            raise EngineError(
                f"column {column!r} not found", hint=f"columns are {frame.column_names}"
            )
        value = pc.max(frame.column(column)).as_py()
        return to_utc(value) if isinstance(value, datetime) else value

    def schema(self, frame: pa.Table) -> dict[str, str]:
        """Column name → Arrow type name."""
        return {f.name: str(f.type) for f in frame.schema}

    def columns(self, frame: pa.Table) -> list[str]:
        """Column names in order."""
        return list(frame.column_names)

    def to_json_records(self, frame: pa.Table) -> list[str]:
        """Each row as compact JSON (non-JSON types such as decimals rendered as text)."""
        return [orjson.dumps(row, default=str).decode() for row in frame.to_pylist()]

    # -- writing ---------------------------------------------------------------------------
    def write_delta(
        self,
        frame: pa.Table,
        uri: str,
        *,
        mode: str,
        merge_keys: Sequence[str] = (),
        partition_by: Sequence[str] = (),
        storage_options: Mapping[str, str] | None = None,
        txn: tuple[str, int] | None = None,
    ) -> int:
        """Append, overwrite or merge-upsert (last row per key wins); return the new version."""
        return write_delta_table(
            frame,
            uri,
            mode=mode,
            merge_keys=merge_keys,
            partition_by=partition_by,
            storage_options=storage_options,
            txn=txn,
        )

    def write_file(
        self,
        frame: pa.Table,
        path: str,
        fmt: str,
        options: OptionsArg = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> None:
        """Write one local parquet / csv / jsonl file."""
        write_single_file(frame, _local(path), file_write_options(fmt, options))

    def close(self) -> None:
        """Nothing to release: connections are per call."""
