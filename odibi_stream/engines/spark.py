"""The Spark engine: PySpark DataFrames, Spark SQL, Delta through delta-spark.

Frames are ``pyspark.sql.DataFrame``. One SparkSession per process (see
:mod:`odibi_stream.engines.spark_session`), started on first use and stopped by :meth:`close`;
``local[*]`` or a standalone cluster (``spark: {master: spark://host:port}``).

Thread safety: the batch executor calls the engine from several threads. SQL runs on a fresh
``spark.newSession()`` per call (it shares the SparkContext, so it is cheap) where each input is
a temp view named exactly as the query expects; views of parallel calls can therefore never
collide, and they are dropped when the call returns.

Python function transforms — the contract:
    * A function receives Spark DataFrames: ``fn(df, **params)`` for one input, ``fn(inputs,
      **params)`` with ``inputs`` a dict name → DataFrame for several, and returns a Spark
      DataFrame. It runs on the driver and builds a (lazy) plan; work is distributed.
    * A function whose first parameter is annotated as a pandas DataFrame (``pd.DataFrame`` or
      ``dict[str, pd.DataFrame]``) is a *pandas transform*: it receives the whole input
      collected as pandas (through Arrow), exactly as on the pandas engine, and its result is
      turned back into a Spark DataFrame. This is what makes ``engine: pandas`` →
      ``engine: spark`` need no other change; it collects to the driver, so it suits
      moderate batch sizes.
    * For row-local pandas logic that should run distributed, wrap the function with
      :func:`odibi_stream.engines.spark_helpers.pandas_udf_transform` (``mapInPandas``).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from odibi_stream.config.options import SparkConfig, file_read_options, file_write_options
from odibi_stream.core.values import to_utc
from odibi_stream.engines.base import DEFER_ACCOUNTING, OptionsArg, ReadResult
from odibi_stream.engines.spark_observe import RowCounts
from odibi_stream.engines.spark_read import read_spark_files, read_spark_table
from odibi_stream.engines.spark_session import SessionHolder, split_hadoop
from odibi_stream.engines.spark_write import write_spark_delta, write_spark_file
from odibi_stream.exceptions import EngineError, TransformError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def _fn_name(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def wants_pandas(fn: Callable[..., Any]) -> bool:
    """True if ``fn``'s first parameter is annotated as a pandas DataFrame (or a dict of them)."""
    target = getattr(fn, "__wrapped__", fn)
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolved forward references: fall back to the annotation text
        hints = dict(getattr(target, "__annotations__", {}))
    code = getattr(target, "__code__", None)
    if code is None or code.co_argcount == 0:
        return False
    hint = hints.get(code.co_varnames[0])
    text = hint if isinstance(hint, str) else repr(hint)
    return "pandas" in text or "pd.DataFrame" in text


def attach(df: DataFrame, session: SparkSession) -> DataFrame:
    """The same (analysed) plan as a DataFrame of ``session``, so views can be made there."""
    from pyspark.sql import DataFrame as SparkFrame

    jvm = session.sparkContext._jvm
    assert jvm is not None
    jds = jvm.org.apache.spark.sql.classic.Dataset.ofRows(
        session._jsparkSession, df._jdf.logicalPlan()
    )
    return SparkFrame(jds, session)


class SparkEngine:
    """Engine protocol implementation on PySpark + delta-spark (see the module docstring)."""

    name = "spark"

    def __init__(self, conf: SparkConfig | Mapping[str, Any] | None = None) -> None:
        """Prepare the engine; the SparkSession starts on first use, not here."""
        self._holder = SessionHolder(conf)
        self._rows = RowCounts()

    @property
    def spark(self) -> SparkSession:
        """The process's SparkSession (started on first access)."""
        return self._holder.get()

    def _storage(self, storage_options: Mapping[str, str] | None) -> dict[str, str]:
        """Apply the location's Hadoop keys to the session; return the delta-rs options."""
        hadoop, rest = split_hadoop(storage_options)
        if hadoop:
            self._holder.apply_hadoop_conf(hadoop)
        return rest

    # -- Delta maintenance (SupportsDeltaMaintenance; see engines.spark_maintenance) ----------
    def optimize_delta(self, uri: str, storage_options: Mapping[str, str], target_file_size: int) -> dict[str, Any]:
        """Compact small files with delta-spark."""
        from odibi_stream.engines import spark_maintenance

        return spark_maintenance.optimize(self.spark, uri, self._storage(storage_options), target_file_size)

    def vacuum_delta(self, uri: str, storage_options: Mapping[str, str], retain_hours: float) -> dict[str, Any]:
        """Vacuum with delta-spark."""
        from odibi_stream.engines import spark_maintenance

        return spark_maintenance.vacuum(self.spark, uri, self._storage(storage_options), retain_hours)

    def checkpoint_delta(self, uri: str, storage_options: Mapping[str, str]) -> dict[str, Any]:
        """Checkpoint the Delta log with delta-spark."""
        from odibi_stream.engines import spark_maintenance

        return spark_maintenance.checkpoint(self.spark, uri, self._storage(storage_options))

    # -- reading ---------------------------------------------------------------------------
    def read_files(
        self,
        paths: Sequence[str],
        fmt: str,
        options: OptionsArg = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> ReadResult:
        """Read ``paths`` with Spark's native readers; malformed records become rejects.

        Lazy, with a :attr:`ReadResult.pending`, while the executor defers accounting.
        """
        opts = file_read_options(fmt, options)
        self._storage(storage_options)
        return self._rows.of_read(read_spark_files(self.spark, paths, opts, defer=DEFER_ACCOUNTING.get()))

    def read_delta(
        self, uri: str, storage_options: Mapping[str, str] | None = None, where: str | None = None
    ) -> DataFrame:
        """Read the current version of a Delta table, optionally filtered."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        options = self._storage(storage_options)
        try:
            DeltaTable(uri, storage_options=options)
        except TableNotFoundError as exc:
            raise EngineError(
                f"no Delta table at {uri}", hint="check the path, or write the table first"
            ) from exc
        df = self.spark.read.format("delta").load(uri)
        return self._where(df, where)

    def read_table(
        self,
        uri: str,
        fmt: str,
        storage_options: Mapping[str, str] | None = None,
        where: str | None = None,
        options: OptionsArg = None,
    ) -> DataFrame:
        """Read a whole Delta table or parquet/csv/json folder or file (static reads)."""
        if fmt == "delta":
            return self.read_delta(uri, storage_options, where)
        opts = file_read_options(fmt, options)
        self._storage(storage_options)
        return self._where(read_spark_table(self.spark, uri.removeprefix("file://"), opts), where)

    def _where(self, df: DataFrame, where: str | None) -> DataFrame:
        if where is None:
            return df
        try:
            return df.filter(where)
        except Exception as exc:
            raise EngineError(f"cannot filter with {where!r}: {exc}") from exc

    def from_arrow(self, table: pa.Table) -> DataFrame:
        """Arrow → Spark (``createDataFrame`` on an Arrow table keeps the column types).

        The frame's row count is known from the table (no count job is ever needed for it).
        """
        if table.num_columns == 0:
            from pyspark.sql.types import StructType

            return self.spark.createDataFrame([], StructType([]))
        return self._rows.remember(self.spark.createDataFrame(table), table.num_rows)

    def to_arrow(self, frame: DataFrame) -> pa.Table:
        """Spark → Arrow (collects to the driver)."""
        return frame.toArrow()

    # -- transforming ----------------------------------------------------------------------
    def sql(self, query: str, tables: Mapping[str, DataFrame]) -> DataFrame:
        """Run ``query`` with each frame a temp view of that name, isolated in a new session."""
        session = self.spark.newSession()
        try:
            for name, frame in tables.items():
                attach(frame, session).createOrReplaceTempView(name)
            result = session.sql(query)
        except Exception as exc:
            raise TransformError(f"SQL transform failed: {exc}") from exc
        finally:
            # The result's plan is analysed already: dropping the views does not affect it.
            for name in tables:
                session.catalog.dropTempView(name)
        # Back in the engine's session: observations (deferred accounting) of the inputs were
        # registered there, and only that session's queries report to them.
        return attach(result, self.spark)

    def apply(
        self, fn: Callable[..., Any], inputs: Mapping[str, DataFrame], params: Mapping[str, Any]
    ) -> DataFrame:
        """Call ``fn`` on Spark DataFrames, or on pandas for pandas transforms (see module doc)."""
        from pyspark.sql import DataFrame as SparkFrame

        as_pandas = wants_pandas(fn)
        frames: dict[str, Any] = (
            {n: f.toArrow().to_pandas() for n, f in inputs.items()} if as_pandas else dict(inputs)
        )
        arg: Any = next(iter(frames.values())) if len(frames) == 1 else frames
        try:
            result = fn(arg, **params)
        except Exception as exc:
            raise TransformError(
                f"transform {_fn_name(fn)} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if as_pandas:
            return self._from_pandas(fn, result)
        if not isinstance(result, SparkFrame):
            raise TransformError(
                f"transform {_fn_name(fn)} returned {type(result).__name__}, expected a Spark DataFrame",
                hint="return the DataFrame, or annotate the first parameter as pd.DataFrame to get pandas",
            )
        return result

    def _from_pandas(self, fn: Callable[..., Any], result: Any) -> DataFrame:
        import pandas as pd

        if not isinstance(result, pd.DataFrame):
            raise TransformError(
                f"transform {_fn_name(fn)} returned {type(result).__name__}, expected a pandas DataFrame",
                hint="return the DataFrame at the end of the function",
            )
        try:
            table = pa.Table.from_pandas(result, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise TransformError(
                f"transform {_fn_name(fn)} returned columns Arrow cannot store: {exc}"
            ) from exc
        return self.from_arrow(table)

    def split(self, frame: DataFrame, predicate: str) -> tuple[DataFrame, DataFrame]:
        """(rows where ``predicate`` is TRUE, rows where it is FALSE or NULL)."""
        from pyspark.sql import functions as F

        try:
            cond = F.expr(predicate)
            good = frame.filter(cond)
            bad = frame.filter(~F.coalesce(cond, F.lit(False)))
            good.schema  # noqa: B018 - analyse now so a bad predicate fails here, not in a sink
        except Exception as exc:
            raise TransformError(f"cannot evaluate {predicate!r}: {exc}") from exc
        return good, bad

    def union(self, frames: Sequence[DataFrame]) -> DataFrame:
        """Concatenate by column name; missing columns become null, types are widened."""
        if not frames:
            raise EngineError("union of no frames")
        result = frames[0]
        for frame in frames[1:]:
            result = result.unionByName(frame, allowMissingColumns=True)
        return result

    def with_columns(self, frame: DataFrame, values: Mapping[str, Any]) -> DataFrame:
        """Add (or replace) constant columns."""
        from pyspark.sql import functions as F

        columns = {}
        for name, value in values.items():
            col = F.lit(value)
            columns[name] = col.cast("string") if value is None else col
        return frame.withColumns(columns)

    # -- inspecting ------------------------------------------------------------------------
    def count(self, frame: DataFrame) -> int:
        """Number of rows (a Spark job the first time it is asked of a frame; see RowCounts)."""
        return self._rows.count(frame)

    def observe_rows(self, frame: DataFrame) -> tuple[DataFrame, Callable[[], int]]:
        """``frame`` observed: the job that runs it counts its rows (deferred accounting)."""
        return self._rows.observe(frame)

    def max_value(self, frame: DataFrame, column: str) -> Any:
        """Max as a Python value; timestamps are aware UTC (through Arrow, not local time)."""
        from pyspark.sql import functions as F

        if column not in frame.columns:
            raise EngineError(f"column {column!r} not found", hint=f"columns are {frame.columns}")
        value = (
            frame.select(F.max(F.col(f"`{column}`")).alias("m")).toArrow().column("m")[0].as_py()
        )
        return to_utc(value) if isinstance(value, datetime) else value

    def schema(self, frame: DataFrame) -> dict[str, str]:
        """Column name → Spark type name (``bigint``, ``timestamp``, ``decimal(10,2)`` ...)."""
        return {f.name: f.dataType.simpleString() for f in frame.schema.fields}

    def columns(self, frame: DataFrame) -> list[str]:
        """Column names in order."""
        return list(frame.columns)

    def to_json_records(self, frame: DataFrame) -> list[str]:
        """Each row as compact JSON, rendered exactly like the pandas engine does."""
        return [orjson.dumps(row, default=str).decode() for row in frame.toArrow().to_pylist()]

    # -- writing ---------------------------------------------------------------------------
    def write_delta(
        self,
        frame: DataFrame,
        uri: str,
        *,
        mode: str,
        merge_keys: Sequence[str] = (),
        partition_by: Sequence[str] = (),
        storage_options: Mapping[str, str] | None = None,
        txn: tuple[str, int] | None = None,
    ) -> int:
        """Append, overwrite or merge-upsert with the txn in the same commit; return the version."""
        return write_spark_delta(
            self.spark,
            frame,
            uri,
            mode=mode,
            merge_keys=merge_keys,
            partition_by=partition_by,
            storage_options=self._storage(storage_options),
            txn=txn,
        )

    def write_file(
        self,
        frame: DataFrame,
        path: str,
        fmt: str,
        options: OptionsArg = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> None:
        """Write exactly one local parquet / csv / jsonl file at ``path``."""
        write_spark_file(frame, path, file_write_options(fmt, options))

    # -- Kafka -----------------------------------------------------------------------------
    def read_kafka(
        self, bootstrap_options: Mapping[str, Any], ranges: Mapping[str, Sequence[int]]
    ) -> DataFrame:
        """Read exact per-partition offset ranges with Spark's Kafka batch source.

        Args:
            bootstrap_options: Kafka client settings (``bootstrap.servers``, SASL ...); keys
                are passed to Spark as ``kafka.<key>``.
            ranges: ``"topic:partition"`` → ``[start, end)`` offsets planned by the runtime.

        Returns:
            Spark's Kafka columns: key, value (binary), topic, partition, offset,
            timestamp, timestampType, headers.
        """
        from odibi_stream.engines.spark_helpers import read_kafka_ranges

        return read_kafka_ranges(self.spark, bootstrap_options, ranges)

    def close(self) -> None:
        """Stop the SparkSession (if it was started)."""
        self._holder.stop()
