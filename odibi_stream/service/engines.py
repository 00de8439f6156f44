"""EngineCache: one engine per engine name for the whole daemon, closed once at shutdown."""

from __future__ import annotations

import threading

from odibi_stream.config.options import SparkConfig
from odibi_stream.engines import get_engine
from odibi_stream.engines.base import Engine


class EngineCache:
    """Creates engines on first use and closes them all on :meth:`close`.

    Args:
        spark_conf: The project's ``spark:`` settings (the Spark engine's session).
    """

    def __init__(self, spark_conf: SparkConfig | None = None) -> None:
        self._spark_conf = spark_conf
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Engine:
        """The engine called ``name`` (created on first use; ConfigError if unknown)."""
        with self._lock:
            if name not in self._engines:
                self._engines[name] = get_engine(name, self._spark_conf)
            return self._engines[name]

    def close(self) -> None:
        """Close every engine created (idempotent)."""
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.close()
