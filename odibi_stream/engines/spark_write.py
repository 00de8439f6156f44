"""Writers of the Spark engine: Delta through delta-spark, and single files.

Delta idempotency: the batch's transaction ``(app_id, version)`` is recorded in the same commit
as the data, in the form delta-rs reads back with ``transaction_version(app_id)``:

* append / overwrite: the writer options ``txnAppId`` / ``txnVersion``;
* merge: the session settings ``spark.databricks.delta.write.txnAppId`` / ``txnVersion``
  (Delta >= 2.0 applies them to MERGE commits). They are set on a fresh ``newSession()`` used
  for this one call only, so parallel writes from other threads never see them.

Checking whether the marker already exists is the caller's job (see connectors.sinks).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from deltalake import DeltaTable as RsDeltaTable
from deltalake.exceptions import TableNotFoundError

from odibi_stream.config.options import CsvWriteOptions, FileWriteOptions, ParquetWriteOptions
from odibi_stream.exceptions import ConfigError, EngineError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

WRITE_MODES = ("append", "overwrite", "merge")
_ORDER = "__odibi_row"


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def delta_storable(df: DataFrame) -> DataFrame:
    """Cast columns Delta cannot store (``void``, i.e. all-null untyped) to string."""
    from pyspark.sql import functions as F

    void = [f.name for f in df.schema.fields if f.dataType.simpleString() == "void"]
    for name in void:
        df = df.withColumn(name, F.col(_quote(name)).cast("string"))
    return df


def last_per_key(df: DataFrame, keys: Sequence[str]) -> DataFrame:
    """Keep the last row per key in the frame's order (the pandas engine's merge semantics).

    Raises:
        ConfigError: a key column is missing.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise ConfigError(
            f"merge key column(s) {missing} not in the data", hint=f"columns are {df.columns}"
        )
    # monotonically_increasing_id grows with partition index, then row: the frame's order.
    ordered = df.withColumn(_ORDER, F.monotonically_increasing_id())
    window = Window.partitionBy(*[F.col(_quote(k)) for k in keys]).orderBy(F.col(_ORDER).desc())
    return (
        ordered.withColumn("__odibi_rank", F.row_number().over(window))
        .filter("__odibi_rank = 1")
        .drop("__odibi_rank", _ORDER)
    )


def table_version(uri: str, storage_options: Mapping[str, str] | None) -> int | None:
    """Current version of the Delta table at ``uri`` (None when there is no table)."""
    try:
        return int(RsDeltaTable(uri, storage_options=dict(storage_options or {})).version())
    except TableNotFoundError:
        return None


def _hadoop_options(storage_options: Mapping[str, str] | None) -> dict[str, str]:
    # Spark reaches storage through Hadoop file systems; only fs.* settings mean anything there.
    return {k: v for k, v in (storage_options or {}).items() if k.startswith("fs.")}


def _merge(
    spark: SparkSession, df: DataFrame, uri: str, keys: Sequence[str], txn: tuple[str, int] | None
) -> None:
    from delta.tables import DeltaTable

    session = spark.newSession()
    session.conf.set("spark.databricks.delta.schema.autoMerge.enabled", "true")
    if txn is not None:
        session.conf.set("spark.databricks.delta.write.txnAppId", txn[0])
        session.conf.set("spark.databricks.delta.write.txnVersion", str(txn[1]))
    predicate = " AND ".join(f"t.{_quote(k)} = s.{_quote(k)}" for k in keys)
    target = DeltaTable.forPath(session, uri)
    (
        target.alias("t")
        .merge(df.alias("s"), predicate)
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


def write_spark_delta(
    spark: SparkSession,
    df: DataFrame,
    uri: str,
    *,
    mode: str,
    merge_keys: Sequence[str],
    partition_by: Sequence[str],
    storage_options: Mapping[str, str] | None,
    txn: tuple[str, int] | None,
) -> int:
    """Write ``df`` to the Delta table at ``uri``; return the new table version.

    Raises:
        ConfigError: unknown mode, merge without keys or with missing key columns.
        EngineError: the write failed.
    """
    if mode not in WRITE_MODES:
        raise ConfigError(
            f"unknown write mode {mode!r}", hint=f"use one of {', '.join(WRITE_MODES)}"
        )
    if mode == "merge" and not merge_keys:
        raise ConfigError("mode merge needs merge_keys")
    existing = table_version(uri, storage_options)
    if not df.columns:
        # An upstream with no rows and no columns: commit the table's own schema, empty, so the
        # batch's transaction marker still lands.
        if existing is None:
            raise EngineError(f"cannot create Delta table {uri} from a batch without columns")
        df = spark.createDataFrame([], spark.read.format("delta").load(uri).schema)
    df = delta_storable(df)
    try:
        if mode == "merge" and existing is not None:
            _merge(spark, last_per_key(df, merge_keys), uri, merge_keys, txn)
        else:
            if mode == "merge":
                df = last_per_key(df, merge_keys)
            writer = df.write.format("delta").options(**_hadoop_options(storage_options))
            if mode == "overwrite":
                writer = writer.mode("overwrite").option("overwriteSchema", "true")
            else:
                writer = writer.mode("append").option("mergeSchema", "true")
            if partition_by:
                writer = writer.partitionBy(*partition_by)
            if txn is not None:
                writer = writer.option("txnAppId", txn[0]).option("txnVersion", str(txn[1]))
            writer.save(uri)
    except (OSError, ConfigError):
        raise
    except Exception as exc:
        raise EngineError(f"delta {mode} to {uri} failed: {exc}") from exc
    version = table_version(uri, storage_options)
    if version is None:
        raise EngineError(f"delta {mode} to {uri} left no table behind")
    return version


def write_spark_file(df: DataFrame, path: str, options: FileWriteOptions) -> None:
    """Write ``df`` as exactly one local file at ``path``; the options' type names the format.

    Spark writes folders of part files: the frame is coalesced to one partition, written to a
    scratch folder next to ``path`` and its single part file moved to ``path``.
    """
    target = Path(path.removeprefix("file://"))
    scratch = target.parent / f".spark-{uuid.uuid4().hex}"
    writer = df.coalesce(1).write.mode("overwrite")
    try:
        if isinstance(options, ParquetWriteOptions):
            ext = "parquet"
            writer.option("compression", options.compression).parquet(str(scratch))
        elif isinstance(options, CsvWriteOptions):
            ext = "csv"
            writer.option("header", str(options.header).lower()).option(
                "sep", options.delimiter
            ).csv(str(scratch))
        else:
            ext = "json"
            writer.option("ignoreNullFields", "false").json(str(scratch))
        parts = sorted(p for p in scratch.glob(f"part-*.{ext}*") if not p.name.endswith(".crc"))
        if len(parts) > 1:
            raise EngineError(f"spark wrote {len(parts)} part files for one file at {path}")
        if parts:
            os.replace(parts[0], target)
        else:
            _write_empty(df, target, options)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_empty(df: DataFrame, target: Path, options: FileWriteOptions) -> None:
    # Spark writes no part file for an empty csv/json frame; the sink still needs its file.
    if isinstance(options, ParquetWriteOptions):
        import pyarrow.parquet as pq

        pq.write_table(df.toArrow(), str(target), compression=options.compression)
    elif isinstance(options, CsvWriteOptions) and options.header:
        target.write_text(options.delimiter.join(df.columns) + "\n")
    else:
        target.write_bytes(b"")
