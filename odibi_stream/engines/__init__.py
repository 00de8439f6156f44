"""Engines: what executes nodes (see :mod:`odibi_stream.engines.base`).

Engine modules are imported lazily by :func:`get_engine`, so ``import odibi_stream`` stays
light and the Spark engine's dependencies are needed only when it is selected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from odibi_stream.config.options import SparkConfig
from odibi_stream.core.hints import did_you_mean
from odibi_stream.engines.base import Engine
from odibi_stream.exceptions import ConfigError

ENGINES = ("pandas", "spark")


def get_engine(name: str, spark_conf: SparkConfig | Mapping[str, Any] | None = None) -> Engine:
    """Create the engine called ``name``.

    Called once per process by the runtime, which also calls ``close()`` at shutdown.

    Args:
        name: ``"pandas"`` or ``"spark"``.
        spark_conf: The project's ``spark:`` block (a mapping is validated against
            :class:`~odibi_stream.config.options.SparkConfig`; Spark engine only; the session
            starts lazily on first use).

    Raises:
        ConfigError: unknown or unavailable engine.
    """
    if name == "pandas":
        from odibi_stream.engines.pandas import PandasEngine

        return PandasEngine()
    if name == "spark":
        from odibi_stream.engines.spark import SparkEngine

        return SparkEngine(spark_conf)
    hint = did_you_mean(name, ENGINES) or f"choose one of: {', '.join(ENGINES)}"
    raise ConfigError(f"unknown engine {name!r}", hint=hint)
