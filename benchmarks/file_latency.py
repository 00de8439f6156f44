"""Benchmark: file arrival latency, landed → committed, odibi-stream daemon vs Spark Structured Streaming.

One small CSV file at a time is written elsewhere and renamed into a watched folder; the clock
starts when the rename returns and stops when the file's rows are committed. Two stops are
measured for each player, from the files on disk (both players write Delta the same way):

* **sink**: the Delta commit file ``_delta_log/<version>.json`` holding the file's rows exists
  (the rows are visible to readers). Polled every 0.5 ms.
* **checkpoint**: the batch is committed in the player's own checkpoint, i.e. it will never be
  re-run. odibi-stream: the daemon's commit listener (``StreamManager.add_commit_listener``),
  called right after ``commits/N`` is durable. Spark: ``<checkpoint>/commits/<N>`` exists (polled).

odibi-stream runs as the real daemon in this process (``Runtime.background()``: managers, leases,
the watchdog ``file_watch`` trigger, the HTTP server) with ``settle_seconds: 0`` because files
arrive by atomic rename. Spark runs afterwards in the same run: a file-source ``readStream`` →
``writeStream`` Delta (parquet if the Delta jars are missing), ``processingTime=0``, local[2].
The first ``--warmup`` files of each player are discarded; the data is seeded; everything lives
under ``benchmarks/.work/latency`` and is recreated on each run.

    .venv/bin/python benchmarks/file_latency.py [--files 50] [--warmup 5] [--rows 100]
        [--debounce-ms 0] [--gap-ms 100] [--no-spark] [--spark-sink delta|parquet]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    WORK,
    emit,
    percentile,
    spark_available,
    spark_session,
    spark_sink_format,
    wait_until,
)

ROOT = WORK / "latency"
SCHEMA = "id LONG, user_id LONG, amount DOUBLE, kind STRING"
KINDS = ("click", "view", "buy", "refund", "share")
COMMIT_TIMEOUT = 60.0
_VERSION_FILE = re.compile(r"^\d{20}\.json$")


@dataclass
class Timings:
    """Per-file latencies (ms) of one player, warm-up files excluded."""

    sink: list[float] = field(default_factory=list)
    checkpoint: list[float] = field(default_factory=list)


def csv_text(index: int, rows: int, rng: random.Random) -> str:
    """A deterministic CSV file body (header + ``rows`` rows) for file number ``index``."""
    lines = ["id,user_id,amount,kind"]
    for r in range(rows):
        rid = index * rows + r
        lines.append(f"{rid},{rng.randrange(100_000)},{rng.uniform(0, 100):.2f},{KINDS[rid % 5]}")
    return "\n".join(lines) + "\n"


def land(staging: Path, folder: Path, name: str, text: str) -> float:
    """Write ``text`` in ``staging`` then rename it into ``folder``; perf_counter after the rename."""
    tmp = staging / f".{name}.tmp"
    tmp.write_text(text)
    os.rename(tmp, folder / name)
    return time.perf_counter()


def delta_versions(table: Path) -> int:
    """Number of committed Delta versions (the next version's number)."""
    log = table / "_delta_log"
    if not log.exists():
        return 0
    return sum(1 for p in log.iterdir() if _VERSION_FILE.match(p.name))


def feed(
    n_files: int,
    rows: int,
    seed: int,
    gap: float,
    folder: Path,
    sink_done: Callable[[int], Callable[[], bool]],
    checkpoint_wait: Callable[[int], float],
) -> list[tuple[float, float]]:
    """Land files one at a time; per file return (ms to sink commit, ms to checkpoint commit).

    Args:
        sink_done: file index (asked before the file lands) → a check that is true once the
            file's rows are visible in the sink.
        checkpoint_wait: file index → blocks until that file's batch is committed in the
            checkpoint and returns the perf_counter time it happened.
    """
    rng = random.Random(seed)
    staging = folder.parent / f"{folder.name}-staging"
    staging.mkdir(parents=True, exist_ok=True)
    out: list[tuple[float, float]] = []
    for i in range(n_files):
        text = csv_text(i, rows, rng)
        done = sink_done(i)
        landed = land(staging, folder, f"f{i:05d}.csv", text)
        at_sink = wait_until(done, COMMIT_TIMEOUT, f"sink commit of file {i}")
        at_ckpt = checkpoint_wait(i)
        out.append(((at_sink - landed) * 1000, (at_ckpt - landed) * 1000))
        time.sleep(gap)  # pacing between arrivals (same for both players), not synchronisation
    return out


def write_project(root: Path, landing: Path, debounce_ms: int) -> Path:
    """A one-pipeline project: file_watch on ``landing`` (csv) → Delta append."""
    (root / "pipelines").mkdir(parents=True)
    (root / "odibi.yaml").write_text(
        textwrap.dedent(
            f"""\
            project: latency
            checkpoint: {{root: ./checkpoints}}
            server: {{port: 0}}
            connections:
              landing: {{type: local, base_path: {landing}}}
              lake: {{type: local, base_path: ./lake}}
            """
        )
    )
    (root / "pipelines" / "lat.yaml").write_text(
        textwrap.dedent(
            f"""\
            pipeline: lat
            trigger: {{file_watch: {{debounce_ms: {debounce_ms}}}}}
            nodes:
              - name: src
                read:
                  connection: landing
                  format: csv
                  path: "*.csv"
                  options: {{schema: {{id: long, user_id: long, amount: double, kind: string}}}}
                  incremental: {{mode: files, settle_seconds: 0}}
              - name: out
                depends_on: [src]
                write: {{connection: lake, format: delta, path: events, mode: append}}
            """
        )
    )
    return root


def table_rows(table: Path) -> int:
    """Rows in a Delta table (read with delta-rs, whoever wrote it)."""
    from deltalake import DeltaTable

    return DeltaTable(str(table)).to_pyarrow_table().num_rows


def run_ours(args: argparse.Namespace) -> Timings:
    """The real daemon in this process; returns the post-warm-up latencies."""
    from odibi_stream.api import Runtime

    base = ROOT / "ours"
    landing = base / "landing"
    landing.mkdir(parents=True)
    project = write_project(base / "project", landing, args.debounce_ms)
    table = project / "lake" / "events"
    stamps: list[float] = []
    committed = threading.Condition()

    def on_commit(_pipeline: str) -> None:
        stamp = time.perf_counter()
        with committed:
            stamps.append(stamp)
            committed.notify_all()

    def checkpoint_wait(i: int) -> float:
        with committed:
            if not committed.wait_for(lambda: len(stamps) > i, COMMIT_TIMEOUT):
                raise TimeoutError(f"no checkpoint commit for file {i}")
            return stamps[i]

    runtime = Runtime.from_project(project, port=0)
    with runtime.background() as live:
        assert live.daemon is not None
        live.daemon.streams.add_commit_listener(on_commit)
        pairs = feed(
            args.files, args.rows, args.seed, args.gap_ms / 1000, landing,
            lambda _i: (table / "_delta_log" / f"{delta_versions(table):020d}.json").exists, checkpoint_wait,
        )
    assert len(stamps) == args.files, f"{len(stamps)} batches for {args.files} files"
    assert table_rows(table) == args.files * args.rows, "ours: rows lost or duplicated"
    return _timings(pairs, args.warmup)


def run_spark(args: argparse.Namespace) -> Timings:
    """Spark Structured Streaming, file source → Delta (or parquet), processingTime=0."""
    base = ROOT / "spark"
    landing = base / "landing"
    landing.mkdir(parents=True)
    out, checkpoint = base / "out", base / "checkpoint"
    sink = args.spark_sink or spark_sink_format()
    spark = spark_session("file_latency")
    query = (
        spark.readStream.schema(SCHEMA).option("header", "true").csv(str(landing))
        .writeStream.format(sink)
        .option("checkpointLocation", str(checkpoint))
        .trigger(processingTime="0 seconds")
        .start(str(out))
    )

    def sink_done(i: int) -> Callable[[], bool]:
        if sink == "delta":
            return (out / "_delta_log" / f"{delta_versions(out):020d}.json").exists
        # The file sink's own commit log: one entry per batch, every 10th one named N.compact.
        meta = out / "_spark_metadata"
        return lambda: (meta / str(i)).exists() or (meta / f"{i}.compact").exists()

    def checkpoint_wait(i: int) -> float:
        return wait_until((checkpoint / "commits" / str(i)).exists, COMMIT_TIMEOUT, f"spark commit {i}")

    try:
        wait_until(lambda: query.isActive, COMMIT_TIMEOUT, "the query to start", poll=0.01)
        pairs = feed(args.files, args.rows, args.seed, args.gap_ms / 1000, landing, sink_done, checkpoint_wait)
        rows = spark.read.format(sink).load(str(out)).count()
    finally:
        query.stop()
        spark.stop()
    assert rows == args.files * args.rows, f"spark: {rows} rows for {args.files * args.rows}"
    return _timings(pairs, args.warmup)


def _timings(pairs: list[tuple[float, float]], warmup: int) -> Timings:
    kept = pairs[warmup:]
    return Timings(sink=[p[0] for p in kept], checkpoint=[p[1] for p in kept])


def summary(values: list[float]) -> str:
    """p50 / p95 / min / max in ms."""
    return (f"p50 {percentile(values, 0.5):7.1f} ms  p95 {percentile(values, 0.95):7.1f} ms  "
            f"min {min(values):6.1f}  max {max(values):7.1f}")


def report(label: str, t: Timings) -> None:
    """Print one player's two latency lines."""
    print(f"{label} landed→sink commit:       {summary(t.sink)}")
    print(f"{label} landed→checkpoint commit: {summary(t.checkpoint)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=50, help="measured files per player")
    ap.add_argument("--warmup", type=int, default=5, help="extra first files per player, discarded")
    ap.add_argument("--rows", type=int, default=100, help="rows per file")
    ap.add_argument("--debounce-ms", type=int, default=0, help="file_watch debounce of our trigger")
    ap.add_argument("--gap-ms", type=int, default=100, help="pause after each commit before the next file")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-spark", action="store_true")
    ap.add_argument("--spark-sink", choices=("delta", "parquet"), default=None,
                    help="Spark's sink (default: delta when the Delta jars are fetched, else parquet)")
    args = ap.parse_args()
    args.files += args.warmup  # measured files come after the warm-up files
    if ROOT.exists():
        shutil.rmtree(ROOT)
    print(f"machine: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f} at start")
    print(f"{args.files - args.warmup} files x {args.rows} rows (+{args.warmup} warm-up files discarded), "
          f"atomic rename, {args.gap_ms} ms between a commit and the next file")

    ours = run_ours(args)
    report(f"odibi-stream (daemon, file_watch debounce {args.debounce_ms} ms)", ours)
    if args.no_spark or not spark_available():
        print("Spark Structured Streaming: skipped (pip install pyspark to compare)")
        return
    spark = run_spark(args)
    sink = args.spark_sink or spark_sink_format()
    report(f"Spark Structured Streaming ({sink}, processingTime=0, local[2])", spark)
    for what, a, b in (("sink", ours.sink, spark.sink), ("checkpoint", ours.checkpoint, spark.checkpoint)):
        print(f"ratio spark/odibi ({what}): p50 {percentile(b, 0.5) / percentile(a, 0.5):.2f}x, "
              f"p95 {percentile(b, 0.95) / percentile(a, 0.95):.2f}x")
        for q in (0.5, 0.95):
            emit("file_latency", f"file renamed in -> {what} committed, p{int(q * 100)}", "ms",
                 percentile(a, q), percentile(b, q), "Spark SS processingTime=0",
                 higher_is_better=False, scope="daemon in-process vs Spark in-process")
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
