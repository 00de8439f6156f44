"""Event Hubs → SQL → Delta: our whole pipeline vs the raw SDK ``receive_batch`` loop.

Usage: ``python benchmarks/eventhub_to_delta.py [--events 300000] [--partitions 4]
[--batch 50000] [--rounds 2]``.

Starts the wire-level test server (``tests/eventhub_server``) in its own process, loads N small
JSON events over the partitions once, then alternates, ``--rounds`` times, over the very same
events:

* **raw**: one sync ``EventHubConsumerClient.receive_batch`` over all partitions from the
  start, decoding every body with ``json.loads`` (the SDK's ceiling with decoding included;
  :func:`benchmarks.eventhub_raw_receive.raw_receive_rate`);
* **ours**: the compiled pipeline (``format: eventhub`` read with ``max_records_per_batch``,
  a SQL transform, a Delta sink with its transaction check, the checkpoint written ahead and
  committed per batch), run by ``PipelineRunner.run_available`` until caught up, into a fresh
  checkpoint and table each round. Timed from the first plan to the last commit (the raw loop
  is timed from client creation to the last event; neither includes closing).

Reports events/s of both (best round each), ours as a share of raw (target ≥ 80%), the client
CPU per event of each, and the per-batch overhead: the mean time of each protocol step, and
the protocol's own share (plan, write-ahead, commit, ... — every step but execute, which is
the read, the SQL and the Delta write).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.eventhub_raw_receive import raw_receive_rate, seed_publish
from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.runtime.compile import compile_pipeline
from odibi_stream.runtime.report import BatchReport
from odibi_stream.runtime.runner import PipelineRunner
from odibi_stream.service.project import load
from tests.eventhub_server.control import RemoteEventHubServer

HUB = "bench"


def cpu_seconds() -> float:
    """CPU time of this process (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_project(root: Path, batch: int) -> Path:
    """The benchmark pipeline: eventhub → SQL → Delta (connection string from $BENCH_EH_CONN)."""
    (root / "pipelines").mkdir(parents=True)
    (root / "odibi.yaml").write_text(
        textwrap.dedent(
            """\
            project: bench
            checkpoint: {root: ./checkpoints}
            connections:
              hub: {type: eventhub, auth: {connection_string: "${secret:BENCH_EH_CONN}"}}
              lake: {type: local, base_path: ./data}
            """
        )
    )
    (root / "pipelines" / "bench.yaml").write_text(
        textwrap.dedent(
            f"""\
            pipeline: bench
            trigger: {{eventhub: {{}}}}
            nodes:
              - name: raw
                read: {{connection: hub, format: eventhub, topic: {HUB},
                       options: {{schema: {{id: long, user: string, amount: double, kind: string}}}},
                       incremental: {{mode: offsets, max_records_per_batch: {batch}}}}}
              - name: clean
                depends_on: [raw]
                transform: {{sql: "SELECT id, user, amount * 1.1 AS amount_eur, kind, enqueued_time FROM raw"}}
                write: {{connection: lake, format: delta, path: out}}
            """
        )
    )
    return root


def ours(n: int, batch: int) -> tuple[float, float, list[BatchReport]]:
    """(events/s, client CPU s, batch reports) of one catch-up run of the pipeline."""
    root = write_project(Path(tempfile.mkdtemp(prefix="eh-bench-")), batch)
    project = load(root)
    compiled = compile_pipeline(project, "bench")
    engine = PandasEngine()
    with (
        CheckpointManager.open(project.checkpoint) as checkpoints,
        PipelineRunner(compiled, engine=engine, checkpoints=checkpoints) as runner,
    ):
        cpu0 = cpu_seconds()
        started = time.perf_counter()
        reports = runner.run_available()
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds() - cpu0
    engine.close()
    rows = sum(r.rows_in for r in reports)
    if rows != n:
        raise AssertionError(f"the pipeline read {rows} events, expected {n}")
    return n / elapsed, cpu, reports


def raw(conn: str, n: int) -> tuple[float, float]:
    """(events/s, client CPU s) of the raw SDK loop with JSON decoding."""
    return raw_receive_rate(conn, n, decode=lambda e: json.loads(e.body_as_str()))


def overhead(reports: list[BatchReport]) -> dict[str, Any]:
    """Mean per-batch step times and the protocol's share (every step but execute)."""
    steps: dict[str, list[float]] = {}
    for report in reports:
        for step, ms in report.trace.steps_ms.items():
            steps.setdefault(step, []).append(ms)
    mean_ms = statistics.fmean(r.duration_ms for r in reports)
    mean = {k: statistics.fmean(v) for k, v in steps.items()}
    protocol = sum(ms for step, ms in mean.items() if step != "execute")
    return {
        "batches": len(reports),
        "events_per_batch": round(statistics.fmean(r.rows_in for r in reports)),
        "batch_ms": round(mean_ms, 1),
        "steps_ms": {k: round(v, 1) for k, v in mean.items()},
        "protocol_ms": round(protocol, 1),
        "protocol_share": f"{protocol / mean_ms:.1%}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch", type=int, default=50_000, help="max_records_per_batch")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with RemoteEventHubServer() as server:
        server.create_hub(HUB, args.partitions)
        conn = server.connection_string(HUB)
        os.environ["BENCH_EH_CONN"] = server.connection_string()
        seed_publish(server, HUB, args.events, args.partitions)
        print(
            f"{args.events:,} events over {args.partitions} partitions; max_records_per_batch {args.batch:,}"
        )
        raws: list[tuple[float, float]] = []
        ourss: list[tuple[float, float, list[BatchReport]]] = []
        for round_ in range(1, args.rounds + 1):
            raws.append(raw(conn, args.events))
            ourss.append(ours(args.events, args.batch))
            print(
                f"round {round_}: raw {raws[-1][0]:,.0f} events/s (cpu {raws[-1][1]:.1f}s), "
                f"ours {ourss[-1][0]:,.0f} events/s (cpu {ourss[-1][1]:.1f}s)"
            )
    best_raw = max(raws, key=lambda r: r[0])
    best_ours = max(ourss, key=lambda r: r[0])
    per_event = 1e6 / args.events
    share = best_ours[0] / best_raw[0]
    print(
        f"raw SDK receive_batch + json.loads: {best_raw[0]:,.0f} events/s, {best_raw[1] * per_event:.1f} us CPU/event"
    )
    print(
        f"ours (eventhub -> SQL -> Delta):     {best_ours[0]:,.0f} events/s, {best_ours[1] * per_event:.1f} us CPU/event"
    )
    print(
        f"ours / raw: {share:.0%} (target >= 80%); CPU ours / raw: {best_ours[1] / best_raw[1]:.0%}"
    )
    print("per batch:", json.dumps(overhead(best_ours[2])))


if __name__ == "__main__":
    main()
