"""Delta table maintenance with delta-spark (the Spark engine's ``SupportsDeltaMaintenance``).

Compaction is ``DeltaTable.optimize().executeCompaction()`` with the target size as
``spark.databricks.delta.optimize.maxFileSize``; vacuum is ``DeltaTable.vacuum(hours)`` (the
retention check is lifted for a configured retain below the 7-day default); a checkpoint is
the table's ``DeltaLog.checkpoint()``. Each runs on a fresh ``spark.newSession()`` so its
settings never leak into the pipelines' own queries. File counts and versions are read with
delta-rs, like the Spark engine's writes do.

Called between batches of the pipeline owning the table (``runtime.maintenance``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from deltalake import DeltaTable as RsDeltaTable

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _state(uri: str, storage_options: Mapping[str, str]) -> tuple[int, int]:
    table = RsDeltaTable(uri, storage_options=dict(storage_options))
    return len(table.file_uris()), int(table.version())


def _session(spark: SparkSession) -> SparkSession:
    session = spark.newSession()
    # Vacuum lists the table in parallel tasks (10,000 by default): a few suffice for one table.
    session.conf.set("spark.sql.sources.parallelPartitionDiscovery.parallelism", "4")
    return session


def optimize(spark: SparkSession, uri: str, storage_options: Mapping[str, str], target: int) -> dict[str, Any]:
    """Compact small files towards ``target`` bytes."""
    from delta.tables import DeltaTable

    before, _ = _state(uri, storage_options)
    session = _session(spark)
    session.conf.set("spark.databricks.delta.optimize.maxFileSize", str(target))
    rows = DeltaTable.forPath(session, uri).optimize().executeCompaction().collect()
    metrics = rows[0]["metrics"] if rows else None
    after, version = _state(uri, storage_options)
    return {
        "files_before": before,
        "files_after": after,
        "files_added": int(metrics["numFilesAdded"]) if metrics else 0,
        "files_removed": int(metrics["numFilesRemoved"]) if metrics else 0,
        "version": version,
    }


def vacuum(spark: SparkSession, uri: str, storage_options: Mapping[str, str], retain_hours: float) -> dict[str, Any]:
    """Delete files no version younger than ``retain_hours`` references."""
    from delta.tables import DeltaTable

    files, _ = _state(uri, storage_options)
    session = _session(spark)
    session.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    session.conf.set("spark.databricks.delta.vacuum.logging.enabled", "true")
    table = DeltaTable.forPath(session, uri)
    table.vacuum(float(retain_hours))
    deleted = 0
    for row in table.history(2).collect():
        if row["operation"] == "VACUUM END":
            deleted = int((row["operationMetrics"] or {}).get("numDeletedFiles", 0))
            break
    _, version = _state(uri, storage_options)
    return {"files_before": files, "files_after": files, "files_deleted": deleted, "version": version}


def checkpoint(spark: SparkSession, uri: str, storage_options: Mapping[str, str]) -> dict[str, Any]:
    """Write a checkpoint of the table's log at its current version."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, uri).checkpoint()
    files, version = _state(uri, storage_options)
    return {"files_before": files, "files_after": files, "version": version}
