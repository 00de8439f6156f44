"""Benchmark: cost of one new file among N already-processed files (``after_read: keep``).

For N = 1k, 10k, 100k processed files (tiny CSVs, the folder keeps them all) it measures:

* **run** (whole process): ``odibi-stream run`` with one new file — start, recover, list, plan,
  read, write Delta, commit, exit — wall time of the subprocess, and its plan step
  (``plan_ms`` from the commit entry).
* **serve** (in-process daemon, ``Runtime.background()``, ``file_watch`` trigger, default
  ``settle_seconds``): files written and closed one at a time; landed → committed latency
  (p50/p95, polled on ``commits/``), the plan step of those batches, and **checkpoint bytes
  written per batch** (new or changed files under the checkpoint: offsets, commits, snapshot,
  state chain) with ``retain_batches: 10`` so compaction is part of the run.

The N processed files are not pushed through the pipeline first (100k tiny Delta batches
would take an hour): the checkpoint is seeded with a version-1 snapshot holding their
identities — exactly what an older release leaves behind — so the first compaction also
converts it. The "peer" figure is the same measurement at N = 1k: the ratio shows how flat
the cost is as history grows (target: ~1x).

    .venv/bin/python benchmarks/files_scale.py [--sizes 1000,10000,100000] [--files 20]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
CODE = os.environ.get("ODIBI_BENCH_CODE")
"""A folder holding another ``odibi_stream`` package to measure instead (before/after runs)."""
if CODE:
    sys.path.insert(0, CODE)

import orjson  # noqa: E402 (after the optional ODIBI_BENCH_CODE path)

from benchmarks.common import WORK, emit, peak_rss_mb, percentile, wait_until  # noqa: E402

ROOT = WORK / "files_scale"
WARMUP = 14
ODIBI = """project: scale
connections:
  local: {type: local, base_path: ./data}
checkpoint: {root: ./checkpoints, retain_batches: 10}
server: {port: 0}
"""
PIPE = """pipeline: p
trigger: {file_watch: {debounce_ms: 2}}
nodes:
  - name: src
    read:
      connection: local
      format: csv
      path: landing/*.csv
      options: {schema: {id: int64, v: int64}}
      incremental: {mode: files, after_read: keep}
  - name: out
    depends_on: [src]
    write: {connection: local, format: delta, path: lake/out, mode: append}
"""


def _project(n: int) -> Path:
    """A project whose landing folder holds ``n`` files, all recorded as processed."""
    from odibi_stream.checkpoints.entries import Snapshot, encode

    root = ROOT / f"n{n}"
    shutil.rmtree(root, ignore_errors=True)
    landing = root / "data" / "landing"
    landing.mkdir(parents=True)
    (root / "pipelines").mkdir()
    (root / "odibi.yaml").write_text(ODIBI)
    (root / "pipelines" / "p.yaml").write_text(PIPE)
    seen: dict[str, list[int]] = {}
    body = b"id,v\n1,1\n"
    for i in range(n):
        path = landing / f"old-{i:07d}.csv"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, body)
        os.close(fd)
        st = os.stat(path)
        seen[f"landing/old-{i:07d}.csv"] = [st.st_size, st.st_mtime_ns]
    ckpt = root / "checkpoints" / "p"
    ckpt.mkdir(parents=True)
    snap = Snapshot(batch=0, states={"src": {"seen": seen}}, watermarks={})
    (ckpt / "snapshot.json").write_bytes(encode(snap))
    return root


def _write(path: Path, i: int) -> None:
    with open(path, "w") as fh:
        fh.write(f"id,v\n{i},{i}\n")


def _commit_metric(ckpt: Path, batch: int, key: str) -> float:
    doc = orjson.loads((ckpt / "commits" / f"{batch}.json").read_bytes())
    return float(doc["metrics"].get(key, 0.0))


class _BytesWritten:
    """Counts the bytes the daemon writes into its checkpoint store (every create/replace)."""

    def __init__(self) -> None:
        from odibi_stream.checkpoints.local import LocalCheckpointStore

        self.total = 0
        cls = LocalCheckpointStore
        self._saved = (cls.create, cls.replace)
        create, replace = self._saved

        def counted_create(store: Any, key: str, data: bytes) -> None:
            self.total += len(data)
            create(store, key, data)

        def counted_replace(store: Any, key: str, data: bytes) -> None:
            self.total += len(data)
            replace(store, key, data)

        cls.create, cls.replace = counted_create, counted_replace  # type: ignore[method-assign]

    def close(self) -> None:
        from odibi_stream.checkpoints.local import LocalCheckpointStore

        LocalCheckpointStore.create, LocalCheckpointStore.replace = self._saved  # type: ignore[method-assign]


def measure_run(root: Path) -> dict[str, float]:
    """One new file, ``odibi-stream run`` as a user runs it (whole process)."""
    path = root / "data" / "landing" / "new-run.csv"
    _write(path, 1)
    old = time.time() - 5
    os.utime(path, (old, old))  # `run` has no watcher: the settle fallback applies
    env = dict(os.environ, PYTHONPATH=CODE or str(Path(__file__).resolve().parent.parent))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "odibi_stream.cli.main", "run", str(root), "--pipeline", "p", "--quiet"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"run failed: {proc.stderr[-2000:]}")
    # Peak RSS of the largest child so far: sizes run in increasing order, so it is this run's.
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"run_s": wall, "run_plan_ms": _commit_metric(root / "checkpoints" / "p", 1, "plan_ms"), "run_rss_mb": rss}


def measure_serve(root: Path, files: int) -> dict[str, Any]:
    """Files written and closed one at a time into the watched folder of a live daemon."""
    from odibi_stream.api import Runtime

    ckpt = root / "checkpoints" / "p"
    landing = root / "data" / "landing"
    lat: list[float] = []
    plans: list[float] = []
    counter = _BytesWritten()
    try:
        with Runtime.from_project(root, port=0).background():
            # Not counted: the first plan (a full listing) and the first compactions, which turn
            # the seeded version-1 snapshot into a chain once (retain_batches 10: batch 12 on).
            for w in range(WARMUP):
                last = _last_batch(ckpt)
                _write(landing / f"warm-{w:02d}.csv", w)
                wait_until(lambda last=last: _last_batch(ckpt) > last, 120, "warm-up batch")  # type: ignore[misc]
            first, written0 = _last_batch(ckpt), counter.total
            for i in range(files):
                last = _last_batch(ckpt)
                t0 = time.perf_counter()
                _write(landing / f"new-{i:04d}.csv", 100 + i)
                t1 = wait_until(lambda last=last: _last_batch(ckpt) > last, 60, f"file {i}")  # type: ignore[misc]
                lat.append((t1 - t0) * 1000)
                plans.append(_commit_metric(ckpt, _last_batch(ckpt), "plan_ms"))
            batches = _last_batch(ckpt) - first
        # Leaving the block drained the daemon: every batch's retention is counted.
        written = counter.total - written0
    finally:
        counter.close()
    return {"p50_ms": percentile(lat, 0.5), "p95_ms": percentile(lat, 0.95),
            "plan_ms": percentile(plans, 0.5), "bytes_per_batch": written / max(1, batches)}


def _last_batch(ckpt: Path) -> int:
    folder = ckpt / "commits"
    if not folder.exists():
        return -1
    nums = [int(n[:-5]) for n in os.listdir(folder) if n.endswith(".json") and n[:-5].isdigit()]
    return max(nums, default=-1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--files", type=int, default=20, help="files landed per size under serve")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for n in sizes:
        t0 = time.perf_counter()
        root = _project(n)
        made = time.perf_counter() - t0
        run = measure_run(root)
        serve = measure_serve(root, args.files)
        rows.append((n, run, serve))
        print(f"N={n:>7}: setup {made:5.1f}s | run {run['run_s']:.2f}s (plan {run['run_plan_ms']:.0f} ms) | "
              f"serve p50 {serve['p50_ms']:.1f} ms p95 {serve['p95_ms']:.1f} ms plan {serve['plan_ms']:.1f} ms "
              f"| checkpoint {serve['bytes_per_batch'] / 1024:.1f} KiB/batch | run peak RSS {run['run_rss_mb']:.0f} MiB, "
              f"this process {peak_rss_mb():.0f} MiB", flush=True)
        shutil.rmtree(root, ignore_errors=True)
    base = rows[0]
    top_n, top_run, top_serve = rows[-1]
    peer = f"the same at N={base[0]:,}"
    emit("files_scale", f"serve: one new file among N={top_n:,} processed, landed -> committed p50", "ms",
         top_serve["p50_ms"], base[2]["p50_ms"], peer, higher_is_better=False, scope="daemon in-process")
    emit("files_scale", f"serve: checkpoint bytes written per batch at N={top_n:,}", "bytes",
         top_serve["bytes_per_batch"], base[2]["bytes_per_batch"], peer, higher_is_better=False,
         scope="daemon in-process")
    emit("files_scale", f"run: one new file among N={top_n:,} processed", "s", top_run["run_s"],
         base[1]["run_s"], peer, higher_is_better=False, scope="whole process")
    print("\n| N processed | run whole process | run plan | run peak RSS | serve p50 | serve p95 | serve plan "
          f"| checkpoint bytes/batch | serve p50 vs N={base[0]} |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, run, serve in rows:
        ratio = serve["p50_ms"] / base[2]["p50_ms"]
        print(f"| {n:,} | {run['run_s']:.2f} s | {run['run_plan_ms']:.0f} ms | {run['run_rss_mb']:.0f} MiB | {serve['p50_ms']:.1f} ms | "
              f"{serve['p95_ms']:.1f} ms | {serve['plan_ms']:.1f} ms | {serve['bytes_per_batch'] / 1024:.1f} KiB | "
              f"{ratio:.2f}x |")


if __name__ == "__main__":
    main()
