"""Spark (ABFS) and delta-rs share one Delta table on Azurite through the translated settings.

Needs ``org.apache.hadoop:hadoop-azure`` (matching pyspark's Hadoop 3.5) among the Spark jars,
which ``scripts/fetch-spark-jars.sh`` fetches; like the other Spark tests it fails (not skips)
when only the jars are missing.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from odibi_stream.clients.azure_options import abfs_uri, hadoop_conf, object_store_options
from tests.azurite_fixtures import AzuriteAccount
from tests.spark_fixtures import require_spark, shared_engine


def _engine_with_abfs() -> object:
    require_spark()
    from odibi_stream.engines.spark_session import find_jars

    if not any(Path(j).name.startswith("hadoop-azure-") for j in find_jars()):
        pytest.fail(
            "hadoop-azure is not among the Spark jars — run: bash scripts/fetch-spark-jars.sh"
        )
    return shared_engine()


def test_spark_and_delta_rs_read_each_others_commits(
    azurite: AzuriteAccount, azure_container: str
) -> None:
    from deltalake import DeltaTable, write_deltalake

    engine = _engine_with_abfs()
    spark = engine.spark  # type: ignore[attr-defined]
    target = azurite.target(azure_container)
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in hadoop_conf(target).items():  # per connection, at runtime
        hadoop.set(key, value)
    uri = abfs_uri(target, "lake/shared")
    spark.range(3).write.format("delta").mode("append").save(uri)
    opts = dict(object_store_options(target))
    rs_uri = f"az://{azure_container}/lake/shared"
    assert sorted(
        DeltaTable(rs_uri, storage_options=opts).to_pyarrow_table().column("id").to_pylist()
    ) == [0, 1, 2]
    write_deltalake(
        rs_uri, pa.table({"id": pa.array([3], pa.int64())}), storage_options=opts, mode="append"
    )
    rows = sorted(r.id for r in spark.read.format("delta").load(uri).collect())
    assert rows == [0, 1, 2, 3]
