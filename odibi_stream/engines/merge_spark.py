"""The Spark engine's merge executor: a :class:`MergePlan` as one delta-spark MERGE commit.

The plan's SQL runs in Spark SQL (the engine's ``sql``). The batch's transaction is set as
``spark.databricks.delta.write.txnAppId`` / ``txnVersion`` on a fresh ``newSession()`` used
for this MERGE only (Delta applies them to MERGE commits), so the data and its idempotency
marker land in one commit and parallel writes from other threads never see the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from odibi_stream.engines.merge_sql import (
    NOW,
    POS,
    Dialect,
    MergePlan,
    MergeSpec,
    SqlRunner,
    clause_values,
    merge_counts,
    plan_merge,
)
from odibi_stream.engines.spark_write import _hadoop_options, delta_storable, table_version
from odibi_stream.exceptions import ConfigError, EngineError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DIALECT = Dialect(spark=True)


def _source(df: DataFrame, spec: MergeSpec) -> DataFrame:
    from pyspark.sql import functions as F

    now = spec.time or datetime.now(timezone.utc)
    # The id grows with partition, then row: the frame's input order (ties of sequence_by).
    return df.withColumn(POS, F.monotonically_increasing_id()).withColumn(NOW, F.lit(now))


def _execute(spark: SparkSession, uri: str, plan: MergePlan, txn: tuple[str, int] | None) -> dict[str, int]:
    from delta.tables import DeltaTable

    session = spark.newSession()
    session.conf.set("spark.databricks.delta.schema.autoMerge.enabled", "true")
    if txn is not None:
        session.conf.set("spark.databricks.delta.write.txnAppId", txn[0])
        session.conf.set("spark.databricks.delta.write.txnVersion", str(txn[1]))
    merger: Any = DeltaTable.forPath(session, uri).alias("t").merge(plan.source.alias("s"), plan.predicate)
    for clause in plan.clauses:
        values = clause_values(clause, plan, DIALECT)
        if clause.kind == "delete":
            merger = merger.whenMatchedDelete(condition=clause.condition)
        elif clause.kind == "update":
            merger = merger.whenMatchedUpdate(condition=clause.condition, set=values)
        else:
            merger = merger.whenNotMatchedInsert(condition=clause.condition, values=values)
    metrics = merger.execute()
    rows = metrics.collect() if metrics is not None else []
    return merge_counts(rows[0].asDict() if rows else {})


def merge_spark(
    sql: SqlRunner,
    df: DataFrame,
    uri: str,
    spec: MergeSpec,
    storage_options: Mapping[str, str] | None,
    txn: tuple[str, int] | None,
) -> tuple[int, dict[str, int]]:
    """Merge ``df`` into the Delta table at ``uri`` per ``spec``; return (version, counts).

    Raises:
        ConfigError: a merge column is missing or clashes with a system column.
        EngineError: the merge failed.
    """
    spark = df.sparkSession
    src = _source(delta_storable(df), spec)
    exists = table_version(uri, storage_options) is not None
    target = None
    if exists and spec.strategy == "scd2":
        target = spark.read.format("delta").load(uri).select("*")
    plan = plan_merge(sql, DIALECT, src, src.columns, spec, target)
    try:
        if not exists:
            writer = delta_storable(plan.source.select(*[DIALECT.q(c) for c in plan.columns]).limit(0)).write
            if spec.partition_by:
                writer = writer.partitionBy(*spec.partition_by)
            writer.format("delta").options(**_hadoop_options(storage_options)).save(uri)
        counts = _execute(spark, uri, plan, txn)
    except (OSError, ConfigError):
        raise
    except Exception as exc:
        raise EngineError(f"delta merge ({spec.strategy}) into {uri} failed: {exc}") from exc
    version = table_version(uri, storage_options)
    if version is None:
        raise EngineError(f"delta merge into {uri} left no table behind")
    return version, counts
