"""Benchmark: Delta merge throughput (changes/s) of upsert and scd2, pandas vs Spark engine.

For each engine and strategy: a 1,000,000-row table is loaded through the sink (not timed),
then ``--batches`` batches of ``--changes`` changes each (``--updates`` of them update existing
keys, the rest insert new ones; every change carries a newer ``seq``) are written through the
Delta sink's one path — ``write_delta_idempotent``: transaction check, schema policy, merge plan
(SQL), one MERGE commit with the batch's transaction. Only that call is timed (the batch is
already a frame of the engine, as after a read). rows/s = changes / median seconds per batch.
The Spark engine runs ``local[2]`` and is warmed up on a small table first (JVM start and JIT
are not counted).

    .venv/bin/python benchmarks/merge_throughput.py [--rows 1000000] [--changes 10000] [--batches 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import WORK, spark_available, timed
from odibi_stream.config.models import WriteConfig
from odibi_stream.connectors.base import BatchKey
from odibi_stream.connectors.delta import write_delta_idempotent
from odibi_stream.engines.base import Engine

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
MERGES = {
    "upsert": {"keys": ["id"], "strategy": "upsert", "sequence_by": "seq"},
    "scd2": {"keys": ["id"], "strategy": "scd2", "sequence_by": "seq"},
}


def rows(ids: np.ndarray, seq: int, rng: np.random.Generator) -> pa.Table:
    """Change rows for ``ids``: id, seq, name, amount, kind, payload."""
    n = len(ids)
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "seq": pa.array(np.full(n, seq), pa.int64()),
        "name": pa.array([f"name-{i}" for i in rng.integers(0, 1_000_000, n)], pa.string()),
        "amount": pa.array(rng.random(n) * 100, pa.float64()),
        "kind": pa.array(np.array(["a", "b", "c", "d"])[rng.integers(0, 4, n)], pa.string()),
        "payload": pa.array(["x" * 24] * n, pa.string()),
    })


def write(engine: Engine, table: pa.Table, uri: Path, strategy: str, batch: int) -> float:
    """One timed sink write of ``table`` (already a frame of ``engine``); seconds."""
    cfg = WriteConfig.model_validate({"connection": "c", "format": "delta", "path": "t", "mode": "merge", "merge": MERGES[strategy]})
    frame = engine.from_arrow(table)
    key = BatchKey("bench", strategy, batch, planned=T0 + timedelta(minutes=batch))
    with timed() as elapsed:
        result = write_delta_idempotent(engine, frame, str(uri), cfg, {}, key)
    assert not result.skipped
    return elapsed()


def run(engine: Engine, strategy: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Load the table, then time the change batches; return the measurements."""
    rng = np.random.default_rng(16)
    uri = folder / f"{engine.name}-{strategy}"
    shutil.rmtree(uri, ignore_errors=True)
    load = write(engine, rows(np.arange(args.rows), 1, rng), uri, strategy, 0)
    next_id, times = args.rows, []
    for b in range(1, args.batches + 1):
        updates = rng.choice(args.rows, size=args.updates, replace=False)
        inserts = np.arange(next_id, next_id + args.changes - args.updates)
        next_id += len(inserts)
        times.append(write(engine, rows(np.concatenate([updates, inserts]), b + 1, rng), uri, strategy, b))
    from deltalake import DeltaTable

    size = DeltaTable(str(uri)).to_pyarrow_dataset().count_rows()
    median = statistics.median(times)
    return {"engine": engine.name, "strategy": strategy, "load_s": load, "median_s": median, "max_s": max(times),
            "rows_per_s": args.changes / median, "table_rows": size}


def warm_up(engine: Engine, folder: Path) -> None:
    """A small table through both strategies (JVM start, JIT, Python workers)."""
    rng = np.random.default_rng(1)
    for strategy in MERGES:
        uri = folder / f"warm-{engine.name}-{strategy}"
        shutil.rmtree(uri, ignore_errors=True)
        write(engine, rows(np.arange(1000), 1, rng), uri, strategy, 0)
        write(engine, rows(np.arange(500, 1500), 2, rng), uri, strategy, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the table before the timed batches")
    parser.add_argument("--changes", type=int, default=10_000, help="changes per batch")
    parser.add_argument("--updates", type=int, default=8_000, help="of which updates of existing keys")
    parser.add_argument("--batches", type=int, default=5, help="timed batches per engine and strategy")
    parser.add_argument("--no-spark", action="store_true", help="pandas engine only")
    args = parser.parse_args()
    folder = WORK / "merge_throughput"
    folder.mkdir(parents=True, exist_ok=True)
    from odibi_stream.engines.pandas import PandasEngine

    engines: list[Engine] = [PandasEngine()]
    if not args.no_spark and spark_available():
        from odibi_stream.engines.spark import SparkEngine

        spark = SparkEngine({"master": "local[2]", "conf": {"spark.driver.memory": "4g", "spark.sql.shuffle.partitions": 2}})
        warm_up(spark, folder)
        engines.append(spark)
    results = [run(e, s, args, folder) for e in engines for s in MERGES]
    print(f"\nmerge throughput: {args.rows:,}-row table, {args.batches} batches of {args.changes:,} changes "
          f"({args.updates:,} updates, {args.changes - args.updates:,} inserts)")
    print(f"{'engine':8} {'strategy':8} {'load 1M (s)':>12} {'median (s)':>11} {'max (s)':>8} {'rows/s':>10} {'table rows':>11}")
    for r in results:
        print(f"{r['engine']:8} {r['strategy']:8} {r['load_s']:12.2f} {r['median_s']:11.3f} {r['max_s']:8.3f} "
              f"{r['rows_per_s']:10,.0f} {r['table_rows']:11,}")
    by = {(r["engine"], r["strategy"]): r["rows_per_s"] for r in results}
    for s in MERGES:
        if ("spark", s) in by:
            print(f"{s}: pandas / spark = {by[('pandas', s)] / by[('spark', s)]:.2f}x")
    for e in engines:
        e.close()


if __name__ == "__main__":
    main()
