"""The Spark engine's session: one SparkSession per process, started lazily, with our jars.

Lifecycle contract:
    * :class:`SessionHolder` is created by the Spark engine's constructor; creating it starts
      nothing (``odibi-stream validate`` with ``engine: spark`` must not pay for a JVM).
    * The first engine call that needs Spark calls :meth:`SessionHolder.get`, which builds the
      session under a lock (several batch threads may race to it); later calls return it.
    * :meth:`SessionHolder.stop` is called once by ``SparkEngine.close`` on drain/shutdown.

Storage credentials: a pipeline on an Azure connection carries the connection's Hadoop ABFS keys
(``fs.azure.*``, from :func:`odibi_stream.clients.azure_options.hadoop_conf`) in its storage
options; the engine hands them to :meth:`SessionHolder.apply_hadoop_conf` before the first read
or write of that location, which sets them on the session's Hadoop configuration (seen by every
file system created afterwards, on the driver and the executors). They are never passed as
DataFrame options, so they cannot appear in query plans.

Jars (Delta Lake, Spark's Kafka source, hadoop-azure) are never downloaded at runtime: they come from
``$ODIBI_SPARK_JARS`` or ``<repo>/.cache/spark-jars``, filled by ``scripts/fetch-spark-jars.sh``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odibi_stream.config.options import SparkConfig, coerce_options
from odibi_stream.exceptions import ConfigError, EngineError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

FETCH_COMMAND = "bash scripts/fetch-spark-jars.sh"
JARS_ENV = "ODIBI_SPARK_JARS"
_REQUIRED_JARS = ("delta-spark_", "delta-storage-")

# Settings for small, low-latency micro-batches; anything under `spark.conf` in odibi.yaml wins.
_DEFAULTS: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    # Delta rebuilds table state with 50 partitions by default: seconds of overhead per commit.
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    # Workers must run the same interpreter (and so see the same packages) as the driver.
    "spark.pyspark.python": sys.executable,
    "spark.pyspark.driver.python": sys.executable,
}


def split_hadoop(storage_options: Mapping[str, str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """``(hadoop keys, the rest)`` of storage options: Hadoop file-system keys start with
    ``fs.``; the rest are delta-rs/object_store options."""
    hadoop: dict[str, str] = {}
    rest: dict[str, str] = {}
    for key, value in (storage_options or {}).items():
        (hadoop if key.startswith("fs.") else rest)[key] = value
    return hadoop, rest


def _candidate_folders() -> list[Path]:
    env = os.environ.get(JARS_ENV)
    if env:
        return [Path(env)]
    repo = Path(__file__).resolve().parents[2]
    return [repo / ".cache" / "spark-jars", Path.cwd() / ".cache" / "spark-jars"]


def find_jars() -> list[str]:
    """Return the jar files the session needs (sorted absolute paths).

    Raises:
        ConfigError: the jars are missing; the hint is exactly the command that fetches them.
    """
    searched = _candidate_folders()
    for folder in searched:
        jars = sorted(str(p.resolve()) for p in folder.glob("*.jar"))
        names = [Path(j).name for j in jars]
        if all(any(n.startswith(req) for n in names) for req in _REQUIRED_JARS):
            return jars
    raise ConfigError(
        "the Spark engine needs the Delta Lake and Kafka jars, which are not there yet "
        f"(looked in {', '.join(str(f) for f in searched)})",
        hint=FETCH_COMMAND,
    )


def spark_config(spark_conf: SparkConfig | Mapping[str, Any] | None) -> SparkConfig:
    """The ``spark:`` block as its model (a mapping is validated; None: the defaults).

    Raises:
        ConfigError: unknown keys (with a did-you-mean hint) or bad values.
    """
    return coerce_options(SparkConfig, spark_conf, "spark settings")


def session_settings(spark_conf: SparkConfig | Mapping[str, Any] | None) -> tuple[str, dict[str, str]]:
    """Return (master, settings) from the project's ``spark:`` block.

    Raises:
        ConfigError: the block does not validate.
    """
    config = spark_config(spark_conf)
    settings = dict(_DEFAULTS)
    if config.master.startswith("local"):
        # A batch names its files; beyond 32 of them Spark checks they exist with a job of its
        # own (~1 s on local[2] for 200 files). On a cluster that job spreads the remote calls.
        settings["spark.sql.sources.parallelPartitionDiscovery.threshold"] = "100000"
    settings.update(
        {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in config.conf.items()}
    )
    return config.master, settings


class SessionHolder:
    """Owns the process's SparkSession (see the module docstring for the lifecycle)."""

    def __init__(self, spark_conf: SparkConfig | Mapping[str, Any] | None) -> None:
        self._master, self._settings = session_settings(spark_conf)
        self._app_name = spark_config(spark_conf).app_name
        self._lock = threading.Lock()
        self._session: SparkSession | None = None
        self._hadoop: dict[str, str] = {}

    @property
    def master(self) -> str:
        """The Spark master URL the session uses (or will use)."""
        return self._master

    def get(self) -> SparkSession:
        """Return the session, starting it on first use.

        Raises:
            ConfigError: jars missing (hint: the fetch command).
            EngineError: the JVM or the cluster connection could not be started.
        """
        with self._lock:
            if self._session is None:
                self._session = self._start()
            return self._session

    def _start(self) -> SparkSession:
        jars = find_jars()
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise ConfigError(
                "the spark engine needs pyspark and delta-spark",
                hint="pip install 'odibi-stream[spark]'",
            ) from exc
        # Pandas >= 3 makes PySpark print a FutureWarning per process; it is known and harmless here.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder.master(self._master).appName(self._app_name)
        builder = builder.config("spark.jars", ",".join(jars))
        for key, value in self._settings.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as exc:
            raise EngineError(
                f"cannot start a Spark session on {self._master}: {exc}",
                hint="check spark.master and that Java 17+ is installed",
            ) from exc
        session.sparkContext.setLogLevel("ERROR")
        return session

    def apply_hadoop_conf(self, conf: Mapping[str, str]) -> None:
        """Set Hadoop keys (``fs.azure.*`` ...) on the session's configuration, starting the
        session if needed; keys already set to the same value cost nothing."""
        session = self.get()
        with self._lock:
            changed = {k: v for k, v in conf.items() if self._hadoop.get(k) != v}
            if not changed:
                return
            hadoop = session.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
            for key, value in changed.items():
                hadoop.set(key, value)
            self._hadoop.update(changed)

    def started(self) -> bool:
        """True once the session exists (and until :meth:`stop`)."""
        return self._session is not None

    def stop(self) -> None:
        """Stop the session if it was started; safe to call twice."""
        with self._lock:
            if self._session is not None:
                self._session.stop()
                self._session = None
                self._hadoop = {}
