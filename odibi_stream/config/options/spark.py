"""The project's ``spark:`` block: the one Spark session per process."""

from __future__ import annotations

from pydantic import Field

from odibi_stream.config.options.common import Options


class SparkConfig(Options):
    """``spark:`` in ``odibi.yaml`` (used when a pipeline runs on ``engine: spark``)."""

    master: str = Field(
        default="local[*]", description="Spark master URL: local[*], local[N] or spark://host:7077."
    )
    app_name: str = Field(default="odibi-stream", description="Application name shown in the Spark UI.")
    conf: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Spark settings (spark.sql.shuffle.partitions: 8, ...), applied over the "
        "engine's defaults; booleans become true/false.",
    )
