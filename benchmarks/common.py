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


def spark_session(app: str) -> Any:
    """A local[2] SparkSession with quiet logs (Delta jars added when fetched)."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master("local[2]").appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "4g")
        .config("spark.ui.showConsoleProgress", "false")
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
