"""Helpers for users and connectors of the Spark engine.

* :func:`pandas_udf_transform` turns a row-local pandas function into a Spark transform that
  runs distributed through ``mapInPandas`` (each call sees one chunk of one partition).
* :func:`kafka_offsets` renders planned Kafka ranges as Spark's startingOffsets/endingOffsets,
  which :func:`read_kafka_ranges` reads with Spark's Kafka batch source.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from odibi_stream.exceptions import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession


def pandas_udf_transform(
    fn: Callable[..., pd.DataFrame], schema: str | None = None
) -> Callable[..., DataFrame]:
    """Wrap ``fn(pdf, **params) -> pdf`` as a Spark transform using ``mapInPandas``.

    ``fn`` must be row-local: it is called once per chunk of rows (never on the whole frame),
    so aggregations across rows do not belong here. The output schema is ``schema`` (Spark DDL,
    e.g. ``"id bigint, band string"``) or, when omitted, inferred by running ``fn`` on the
    first rows of the input on the driver.

    Example::

        @odibi_stream.transform("band")
        @pandas_udf_transform
        def band(pdf: pd.DataFrame) -> pd.DataFrame: ...
    """

    @functools.wraps(fn)
    def transform(df: DataFrame, **params: Any) -> DataFrame:
        out_schema = schema or _infer_schema(fn, df, params)

        def run(chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            for chunk in chunks:
                yield fn(chunk, **params)

        return df.mapInPandas(run, out_schema)

    # Not a "pandas transform" for SparkEngine.apply: the wrapper takes a Spark DataFrame.
    transform.__annotations__ = {"df": "pyspark.sql.DataFrame", "return": "pyspark.sql.DataFrame"}
    del transform.__wrapped__  # type: ignore[attr-defined]
    return transform


def _infer_schema(fn: Callable[..., pd.DataFrame], df: DataFrame, params: Mapping[str, Any]) -> str:
    import pyarrow as pa

    sample = df.limit(100).toArrow().to_pandas()
    result = fn(sample, **params)
    spark = df.sparkSession
    return spark.createDataFrame(
        pa.Table.from_pandas(result, preserve_index=False)
    ).schema.simpleString()


def kafka_offsets(ranges: Mapping[str, Sequence[int]]) -> tuple[list[str], str, str]:
    """``{"topic:partition": [start, end)}`` → (topics, startingOffsets JSON, endingOffsets JSON).

    Raises:
        ConfigError: a key is not ``topic:partition`` or a range is not two ordered offsets.
    """
    starting: dict[str, dict[str, int]] = {}
    ending: dict[str, dict[str, int]] = {}
    for key, rng in ranges.items():
        topic, sep, part = key.rpartition(":")
        if not sep or not topic or not part.isdigit():
            raise ConfigError(f"kafka range key {key!r} is not 'topic:partition'")
        if len(rng) != 2 or int(rng[0]) > int(rng[1]) or int(rng[0]) < 0:
            raise ConfigError(
                f"kafka range {key}: {list(rng)} is not [start, end) with start <= end"
            )
        starting.setdefault(topic, {})[part] = int(rng[0])
        ending.setdefault(topic, {})[part] = int(rng[1])
    return (
        sorted(starting),
        json.dumps(starting, sort_keys=True),
        json.dumps(ending, sort_keys=True),
    )


def read_kafka_ranges(
    spark: SparkSession, bootstrap_options: Mapping[str, Any], ranges: Mapping[str, Sequence[int]]
) -> DataFrame:
    """The planned ``"topic:partition" -> [start, end)`` ranges as Spark's Kafka columns."""
    if not ranges:
        from pyspark.sql.types import StructType

        return spark.createDataFrame([], StructType([]))
    topics, starting, ending = kafka_offsets(ranges)
    assign = json.dumps({t: sorted(int(p) for p in json.loads(starting)[t]) for t in topics})
    reader = spark.read.format("kafka")
    for key, value in bootstrap_options.items():
        reader = reader.option(key if key.startswith("kafka.") else f"kafka.{key}", str(value))
    return (
        # assign, not subscribe: exactly the planned partitions, so a topic that grew
        # after planning (or a replay) never trips Spark's "specify all partitions" check.
        reader.option("assign", assign)
        .option("startingOffsets", starting)
        .option("endingOffsets", ending)
        .option("includeHeaders", "true")
        .option("failOnDataLoss", "true")
        .load()
    )
