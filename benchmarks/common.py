"""Shared pieces of the benchmarks: data generation, timing, peak RSS, the Spark peer."""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

WORK = Path(__file__).resolve().parent / ".work"

SQL = "SELECT id, user_id, amount * 1.1 AS amount_eur, kind, ts FROM raw WHERE amount > 10"
SPARK_SCHEMA = "id LONG, user_id LONG, amount DOUBLE, kind STRING, ts STRING, payload STRING"


def make_jsonl(folder: Path, n_files: int, rows_per_file: int, seed: int = 1) -> int:
    """Write ``n_files`` JSON-lines files once (cached by a marker); return total rows."""
    marker = folder / f".complete-{n_files}x{rows_per_file}"
    if marker.exists():
        return n_files * rows_per_file
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    kinds = ["click", "view", "buy", "refund", "share"]
    for f in range(n_files):
        base = f * rows_per_file
        lines = [
            json.dumps(
                {
                    "id": base + r,
                    "user_id": rng.randrange(100_000),
                    "amount": round(rng.uniform(0, 100), 2),
                    "kind": kinds[(base + r) % 5],
                    "ts": f"2026-11-{1 + (base + r) % 28:02d}T12:00:00Z",
                    "payload": "x" * 16,
                },
                separators=(",", ":"),
            )
            for r in range(rows_per_file)
        ]
        tmp = folder / f".part-{f:05d}.tmp"
        tmp.write_text("\n".join(lines) + "\n")
        final = folder / f"part-{f:05d}.jsonl"
        os.replace(tmp, final)
        st = final.stat()
        os.utime(final, ns=(st.st_atime_ns, st.st_mtime_ns - 60_000_000_000))  # settled
    marker.write_text("ok")
    return n_files * rows_per_file


@contextmanager
def timed() -> Iterator[Callable[[], float]]:
    """``with timed() as elapsed: ...; elapsed()`` → seconds."""
    t0 = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - t0
    end.append(time.perf_counter())


def peak_rss_mb() -> float:
    """Peak resident set size of this process, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def spark_available() -> bool:
    """Whether pyspark (and a JVM) can run the peer."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return True


def delta_jars() -> list[str]:
    """The Delta/Kafka jars from ``.cache/spark-jars`` (empty when not fetched)."""
    from odibi_stream.engines.spark_session import find_jars
    from odibi_stream.exceptions import ConfigError

    try:
        return find_jars()
    except ConfigError:
        return []


def spark_sink_format() -> str:
    """``delta`` when the Delta jars are available to the peer, else ``parquet``."""
    return "delta" if delta_jars() else "parquet"


def spark_session(app: str, master: str = "local[2]") -> Any:
    """A SparkSession with quiet logs; Delta enabled when its jars were fetched.

    There is one SparkContext per process: a session already running is returned as is
    (stop it first to get these settings).
    """
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master).appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "4g")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
    )
    jars = delta_jars()
    if jars:
        builder = (
            builder.config("spark.jars", ",".join(jars))
            .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
            .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
            # Same reason as our Spark engine's default: 50 snapshot partitions cost seconds per commit.
            .config("spark.databricks.delta.snapshotPartitions", "2")
        )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def wait_until(cond: Callable[[], bool], timeout: float, what: str, poll: float = 0.0005) -> float:
    """Poll ``cond`` every ``poll`` s until true; return ``time.perf_counter()`` at success.

    Raises:
        TimeoutError: ``cond`` stayed false for ``timeout`` seconds.
    """
    deadline = time.perf_counter() + timeout
    while True:
        if cond():
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)


def emit(bench: str, metric: str, unit: str, ours: float, peer: float, peer_name: str, *,
         higher_is_better: bool, scope: str) -> None:
    """Print one comparable figure as a ``BENCH {json}`` line (collected by ``run_all.py``).

    ``ratio`` is how many times better ours is (> 1: ours wins) whichever way the unit points;
    ``scope`` says what was timed (``whole process``, ``in-process``, ``daemon in-process``).
    """
    ratio = (ours / peer if higher_is_better else peer / ours) if ours and peer else float("nan")
    print("BENCH " + json.dumps({
        "bench": bench, "metric": metric, "unit": unit, "ours": round(ours, 3), "peer": round(peer, 3),
        "peer_name": peer_name, "ratio": round(ratio, 3), "higher_is_better": higher_is_better, "scope": scope,
    }), flush=True)
