"""Benchmark: a Delta table after 2,000 small batches, with and without table maintenance.

One run, two arms over the same 2,000 one-file batches (pandas engine, in-process runner, a
local checkpoint and table):

* **without** maintenance: per-batch latency as the table grows to 2,000 files; then read time
  and file counts before and after one OPTIMIZE + VACUUM (no retention) + log checkpoint;
* **with** maintenance in the pipeline (optimize every 100 batches, vacuum every 500 batches with
  no retention, a log checkpoint every 100 commits): per-batch latency including the batches
  that ran maintenance, and the table's read time and file count at the end.

Read time = open the table with delta-rs and read it whole into Arrow (median of 5, fresh
``DeltaTable`` each time). Latency = the batch's wall time from plan to the end of maintenance
(``BatchReport.duration_ms``) and the sink node's own time (the Delta write).

    .venv/bin/python benchmarks/delta_maintenance.py [--batches 2000] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import WORK, make_jsonl, percentile

RESULTS = Path(__file__).resolve().parent / "results" / "delta_maintenance.md"

MAINTENANCE = """\
      maintenance:
        optimize: {every: 100 batches}
        vacuum: {retain: 0s, every: 500 batches}
        checkpoint_every: 100 commits
"""


def project(root: Path, landing: Path, maintained: bool) -> Path:
    """A one-pipeline project: one landed file per batch → Delta."""
    if root.exists():
        shutil.rmtree(root)
    (root / "pipelines").mkdir(parents=True)
    (root / "odibi.yaml").write_text(textwrap.dedent(f"""\
        project: upkeep
        checkpoint: {{root: ./checkpoints}}
        connections:
          in: {{type: local, base_path: {landing}}}
          out: {{type: local, base_path: ./data}}
        """))
    (root / "pipelines" / "p.yaml").write_text(textwrap.dedent("""\
        pipeline: p
        nodes:
          - name: raw
            read: {connection: in, format: jsonl, path: "*.jsonl", incremental: {mode: files, max_files_per_batch: 1, settle_seconds: 0}}
          - name: sink
            depends_on: [raw]
            write:
              connection: out
              format: delta
              path: lake
        """) + (MAINTENANCE if maintained else ""))
    return root


def run_batches(root: Path) -> list[Any]:
    """Run every available batch in-process; return the reports."""
    from odibi_stream.checkpoints.local import LocalCheckpointStore
    from odibi_stream.checkpoints.manager import CheckpointManager
    from odibi_stream.engines import get_engine
    from odibi_stream.runtime.compile import compile_pipeline
    from odibi_stream.runtime.runner import PipelineRunner
    from odibi_stream.service.project import load

    engine = get_engine("pandas")
    compiled = compile_pipeline(load(root), "p")
    with PipelineRunner(compiled, engine=engine, checkpoints=CheckpointManager(LocalCheckpointStore(root / "checkpoints"))) as runner:
        return runner.run_available()


def table_facts(uri: Path, reads: int = 5) -> dict[str, Any]:
    """Read time (median of fresh opens + full reads), active files, files on disk, log files."""
    from deltalake import DeltaTable

    times, rows = [], 0
    for _ in range(reads):
        t0 = time.perf_counter()
        rows = DeltaTable(str(uri)).to_pyarrow_table().num_rows
        times.append(time.perf_counter() - t0)
    log = uri / "_delta_log"
    return {
        "read_ms": round(statistics.median(times) * 1000, 1),
        "rows": rows,
        "active_files": len(DeltaTable(str(uri)).file_uris()),
        "files_on_disk": len(list(uri.glob("*.parquet"))),
        "log_json": len(list(log.glob("*.json"))),
        "log_checkpoints": len(list(log.glob("*.checkpoint.parquet"))),
    }


def latency(reports: list[Any]) -> dict[str, Any]:
    """Per-batch wall time and Delta write time, and what maintenance cost."""
    batch = [r.duration_ms for r in reports]
    write = [float(r.nodes["sink"]["duration_ms"]) for r in reports]
    maintain = [r.trace.steps_ms.get("maintain", 0.0) for r in reports if r.maintenance]
    return {
        "batches": len(reports),
        "batch_p50_ms": round(percentile(batch, 0.5), 1),
        "batch_p95_ms": round(percentile(batch, 0.95), 1),
        "batch_p99_ms": round(percentile(batch, 0.99), 1),
        "batch_max_ms": round(max(batch), 1),
        "write_p50_ms": round(percentile(write, 0.5), 1),
        "write_p99_ms": round(percentile(write, 0.99), 1),
        "first_100_batch_p50_ms": round(percentile(batch[:100], 0.5), 1),
        "last_100_batch_p50_ms": round(percentile(batch[-100:], 0.5), 1),
        "maintenance_batches": len(maintain),
        "maintenance_max_ms": round(max(maintain), 1) if maintain else 0.0,
        "maintenance_total_s": round(sum(maintain) / 1000, 2),
    }


def maintain_once(uri: Path) -> dict[str, Any]:
    """OPTIMIZE + VACUUM (no retention) + checkpoint, as ``odibi-stream maintain`` runs them."""
    from odibi_stream.connectors import delta_maintenance as ops
    from odibi_stream.engines import get_engine

    engine = get_engine("pandas")
    t0 = time.perf_counter()
    done = [ops.optimize(engine, str(uri), {}, 128 * 1000**2), ops.vacuum(engine, str(uri), {}, 0.0),
            ops.checkpoint(engine, str(uri), {})]
    return {"seconds": round(time.perf_counter() - t0, 2), "operations": done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--rows-per-batch", type=int, default=10)
    parser.add_argument("--write", action="store_true", help=f"write the table to {RESULTS}")
    args = parser.parse_args()
    landing = WORK / f"maintenance-landing-{args.batches}x{args.rows_per_batch}"
    make_jsonl(landing, args.batches, args.rows_per_batch)
    out: dict[str, Any] = {"batches": args.batches, "rows_per_batch": args.rows_per_batch}

    plain = project(WORK / "maintenance-without", landing, maintained=False)
    t0 = time.perf_counter()
    out["without"] = latency(run_batches(plain))
    out["without"]["run_s"] = round(time.perf_counter() - t0, 1)
    out["without_table_before"] = table_facts(plain / "data" / "lake")
    out["maintain_once"] = maintain_once(plain / "data" / "lake")
    out["without_table_after"] = table_facts(plain / "data" / "lake")

    kept = project(WORK / "maintenance-with", landing, maintained=True)
    t0 = time.perf_counter()
    out["with"] = latency(run_batches(kept))
    out["with"]["run_s"] = round(time.perf_counter() - t0, 1)
    out["with_table"] = table_facts(kept / "data" / "lake")

    out["measured"] = time.strftime("%Y-%m-%d", time.gmtime())
    out["cpus"] = os.cpu_count()
    out["load"] = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(json.dumps(out, indent=2))
    table = render(out)
    print(table)
    if args.write:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(table)


def render(out: dict[str, Any]) -> str:
    """The results as a markdown table."""
    w, wo = out["with"], out["without"]
    before, after, kept = out["without_table_before"], out["without_table_after"], out["with_table"]
    rows = [
        ("batches (1 file, {} rows each)".format(out["rows_per_batch"]), wo["batches"], w["batches"]),
        ("run wall time, s", wo["run_s"], w["run_s"]),
        ("batch latency p50 / p95 / p99 / max, ms",
         f"{wo['batch_p50_ms']} / {wo['batch_p95_ms']} / {wo['batch_p99_ms']} / {wo['batch_max_ms']}",
         f"{w['batch_p50_ms']} / {w['batch_p95_ms']} / {w['batch_p99_ms']} / {w['batch_max_ms']}"),
        ("batch latency p50, first 100 → last 100 batches, ms",
         f"{wo['first_100_batch_p50_ms']} → {wo['last_100_batch_p50_ms']}",
         f"{w['first_100_batch_p50_ms']} → {w['last_100_batch_p50_ms']}"),
        ("Delta write (sink node) p50 / p99, ms", f"{wo['write_p50_ms']} / {wo['write_p99_ms']}",
         f"{w['write_p50_ms']} / {w['write_p99_ms']}"),
        ("batches that ran maintenance; their maintain step max, ms", "0", f"{w['maintenance_batches']}; {w['maintenance_max_ms']}"),
        ("table read (open + full read), ms", f"{before['read_ms']} (after one maintain: {after['read_ms']})", kept["read_ms"]),
        ("active data files", f"{before['active_files']} (after: {after['active_files']})", kept["active_files"]),
        ("parquet files on disk", f"{before['files_on_disk']} (after: {after['files_on_disk']})", kept["files_on_disk"]),
        ("log checkpoints", f"{before['log_checkpoints']} (after: {after['log_checkpoints']})", kept["log_checkpoints"]),
    ]
    lines = [f"| after {out['batches']:,} small batches | without maintenance | with maintenance |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines.append("")
    lines.append(f"One maintain on the unmaintained table (optimize + vacuum 0s + checkpoint): {out['maintain_once']['seconds']} s.")
    lines.append(f"Measured {out['measured']}: pandas engine, local disk, {out['cpus']} CPU(s), "
                 f"load average {out['load']} at the end (a shared machine: compare the two columns, not absolutes).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
