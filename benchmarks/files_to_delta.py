"""Benchmark: 1M JSON-lines rows in 200 files → SQL projection/filter → Delta, catch-up run.

Runs odibi-stream on the Pandas engine and, when pyspark is installed, the same project with
``engine: spark`` (local[2]) and Spark Structured Streaming (availableNow, the same files, the
same SQL, local[2], a Delta sink when the Delta jars are in ``.cache/spark-jars``) in the same
run, and prints the rates and the ratios. Each Spark player runs in a process (a JVM) of its own,
so neither inherits the other's JIT-compiled code; each does one full-size warm-up run (JVM
start, jar loading and JIT on this data are not counted), then three timed runs, of which the
median is reported. Both read with the declared schema. Also reports our checkpoint overhead per batch (write-ahead + commit) over many small
batches, and peak RSS on a larger backlog bounded by batch limits (``--rss``).

    .venv/bin/python benchmarks/files_to_delta.py [--rows-per-file 5000] [--files 200] [--rss]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    SPARK_SCHEMA,
    SQL,
    WORK,
    emit,
    make_jsonl,
    peak_rss_mb,
    percentile,
    spark_available,
    spark_session,
    spark_sink_format,
    timed,
)

SPARK_ENGINE_CONF = {"master": "local[2]", "conf": {"spark.driver.memory": "4g"}}


def schema_option() -> dict[str, str]:
    """``SPARK_SCHEMA`` as our ``options.schema`` mapping (column → type name)."""
    pairs = (part.strip().split() for part in SPARK_SCHEMA.split(","))
    return {col: typ.lower() for col, typ in pairs}


def write_project(
    root: Path, landing: Path, *, max_files: int | None, max_records: int | None = None, name: str = "bench",
    engine: str = "pandas",
) -> Path:
    """A one-pipeline project reading ``landing`` into a Delta table.

    With ``engine="spark"`` the project selects the Spark engine (``engine: spark``, local[2])
    and the read declares the schema as the whole row (``undeclared_fields: ignore``), as the
    Spark Structured Streaming peer reads.
    """
    if root.exists():
        shutil.rmtree(root)
    (root / "pipelines").mkdir(parents=True)
    spark_lines = f"engine: spark\nspark: {json.dumps(SPARK_ENGINE_CONF)}\n" if engine == "spark" else ""
    # The peer reads with its declared schema alone (other fields dropped): so does ours.
    options = (
        f"\n                  options: {{schema: {json.dumps(schema_option())}, undeclared_fields: ignore}}"
        if engine == "spark" else ""
    )
    (root / "odibi.yaml").write_text(
        textwrap.dedent(
            f"""\
            project: bench
            checkpoint: {{root: ./checkpoints}}
            connections:
              landing: {{type: local, base_path: {landing}}}
              lake: {{type: local, base_path: ./lake}}
            """
        )
        + spark_lines
    )
    limit = f", max_files_per_batch: {max_files}" if max_files else ""
    limit += f", max_records_per_batch: {max_records}" if max_records else ""
    (root / "pipelines" / f"{name}.yaml").write_text(
        textwrap.dedent(
            f"""\
            pipeline: {name}
            nodes:
              - name: raw
                read:
                  connection: landing
                  format: jsonl
                  path: "*.jsonl"{options}
                  incremental: {{mode: files, settle_seconds: 0{limit}}}
              - name: shaped
                depends_on: [raw]
                transform: {{sql: "{SQL}"}}
              - name: out
                depends_on: [shaped]
                write: {{connection: lake, format: delta, path: events, mode: append}}
            """
        )
    )
    return root


def run_ours(project: Path, name: str = "bench", engine: Any = None) -> tuple[float, list[float], int]:
    """Catch up on everything; return (seconds, per-batch checkpoint ms, rows in).

    ``engine`` defaults to a new Pandas engine; pass one to reuse a warm (Spark) engine.
    """
    from odibi_stream.checkpoints.manager import CheckpointManager
    from odibi_stream.config.loader import load_project
    from odibi_stream.engines import get_engine
    from odibi_stream.runtime.compile import compile_pipeline
    from odibi_stream.runtime.runner import PipelineRunner

    proj = load_project(project)
    engine = engine or get_engine("pandas")
    with timed() as elapsed:
        checkpoints = CheckpointManager.open(proj.checkpoint)
        with PipelineRunner(compile_pipeline(proj, name), engine=engine, checkpoints=checkpoints) as runner:
            results = runner.run_available()
    return elapsed(), [r.commit_ms for r in results], sum(r.rows_in for r in results)


SPARK_ROUNDS = 3
"""Timed rounds per Spark player after its warm-up round; the median is reported."""


def run_ours_spark(landing: Path, rounds: int = SPARK_ROUNDS) -> tuple[list[float], int]:
    """Our pipeline with ``engine: spark``: a full-size warm-up run, then timed runs; (seconds, rows)."""
    from odibi_stream.config.loader import load_project
    from odibi_stream.engines import get_engine

    project = write_project(WORK / "ours-spark", landing, max_files=None, engine="spark")
    config = load_project(project).config
    assert config.engine == "spark"
    engine = get_engine(config.engine, config.spark)
    times: list[float] = []
    rows = 0
    try:
        for _ in range(rounds + 1):  # round 0: JVM start, jar loading, JIT on this data's shape
            project = write_project(WORK / "ours-spark", landing, max_files=None, engine="spark")
            seconds, _, rows = run_ours(project, engine=engine)
            times.append(seconds)
    finally:
        engine.close()
    return times[1:], rows


def run_spark(landing: Path, out: Path, rounds: int = SPARK_ROUNDS) -> list[float]:
    """Spark Structured Streaming, availableNow, same files and SQL: a warm-up, then timed runs."""
    spark = spark_session("files_to_delta")
    sink = spark_sink_format()

    def query(src: Path, dst: Path) -> float:
        if dst.exists():
            shutil.rmtree(dst)
        df = spark.readStream.schema(SPARK_SCHEMA).json(str(src))
        df.createOrReplaceTempView("raw")
        shaped = spark.sql(SQL)
        with timed() as elapsed:
            q = (
                shaped.writeStream.format(sink)
                .option("checkpointLocation", str(dst / "_checkpoint"))
                .trigger(availableNow=True)
                .start(str(dst / "data"))
            )
            q.awaitTermination()
        return elapsed()

    times = [query(landing, out) for _ in range(rounds + 1)]
    spark.stop()
    return times[1:]


def spark_player(player: str, landing: Path) -> tuple[list[float], int]:
    """Run one Spark player in a child process (its own JVM); (timed rounds, rows our run read)."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    done = subprocess.run([sys.executable, __file__, "--spark-child", player, "--landing", str(landing)],
                          env=env, check=True, stdout=subprocess.PIPE, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return [float(x) for x in result["seconds"]], int(result["rows"])


def spark_child(player: str, landing: Path) -> None:
    """Child-process mode: print one Spark player's timed rounds (and rows read) as JSON."""
    times, rows = run_ours_spark(landing) if player == "ours" else (run_spark(landing, WORK / "spark-out"), 0)
    print(json.dumps({"seconds": times, "rows": rows}), flush=True)


def run_whole_process(project: Path, name: str = "bench") -> float:
    """``odibi-stream run`` as a user runs it: seconds of the whole process (start to exit)."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    with timed() as elapsed:
        subprocess.run([sys.executable, "-m", "odibi_stream.cli.main", "run", str(project), "--pipeline", name,
                        "--quiet"], env=env, check=True)
    return elapsed()


def rows_in(project: Path, name: str = "bench") -> int:
    """Rows the committed batches read (from the checkpoint's commit entries)."""
    total = 0
    for path in (project / "checkpoints" / name / "commits").glob("*.json"):
        total += int(json.loads(path.read_text())["nodes"]["raw"]["rows_in"])
    return total


def checkpoint_overhead(files: int = 200) -> list[float]:
    """Many tiny batches (one file each) so the per-batch checkpoint cost dominates."""
    landing = WORK / "tiny"
    make_jsonl(landing, files, 10)
    project = write_project(WORK / "tiny-project", landing, max_files=1)
    _, commit_ms, _ = run_ours(project)
    return commit_ms


def rss_run(files: int, rows_per_file: int, max_records: int) -> None:
    """Child-process mode: catch up a large backlog with a batch limit; print peak RSS."""
    landing = WORK / f"rss-{files}x{rows_per_file}"
    make_jsonl(landing, files, rows_per_file)
    project = write_project(WORK / "rss-project", landing, max_files=None, max_records=max_records)
    seconds, _, rows = run_ours(project)
    backlog_mb = sum(p.stat().st_size for p in landing.glob("*.jsonl")) / 2**20
    print(f"rss: {rows:,} rows ({backlog_mb:.0f} MiB of JSON) in {seconds:.1f}s with "
          f"max_records_per_batch {max_records:,}: peak RSS {peak_rss_mb():.0f} MiB")


def _fmt(times: list[float]) -> str:
    return " / ".join(f"{t:.2f}" for t in times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--rows-per-file", type=int, default=5000)
    ap.add_argument("--max-files-per-batch", type=int, default=None)
    ap.add_argument("--rss", action="store_true", help="also run a 5M-row backlog in a child process")
    ap.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-spark", action="store_true")
    ap.add_argument("--spark-child", choices=["ours", "peer"], help=argparse.SUPPRESS)
    ap.add_argument("--landing", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.spark_child:
        spark_child(args.spark_child, args.landing)
        return
    if args.rss_child:
        rss_run(1000, 5000, 500_000)
        return
    landing = WORK / f"landing-{args.files}x{args.rows_per_file}"
    total = make_jsonl(landing, args.files, args.rows_per_file)
    print(f"input: {total:,} rows in {args.files} JSON-lines files")

    project = write_project(WORK / "ours", landing, max_files=args.max_files_per_batch)
    ours_s, _, rows = run_ours(project)
    assert rows == total, f"read {rows} of {total} rows"
    ours_rate = total / ours_s
    print(f"odibi-stream (pandas):       {ours_s:6.2f} s  {ours_rate:12,.0f} rows/s (in-process)")
    cli_project = write_project(WORK / "ours-cli", landing, max_files=args.max_files_per_batch)
    whole_s = run_whole_process(cli_project)
    cli_rows = rows_in(cli_project)
    assert cli_rows == total, f"odibi-stream run read {cli_rows} of {total} rows"
    whole_rate = total / whole_s
    print(f"odibi-stream run (pandas):   {whole_s:6.2f} s  {whole_rate:12,.0f} rows/s (whole process)")

    ck = checkpoint_overhead()
    print(f"checkpoint per batch (write-ahead + commit, {len(ck)} batches): "
          f"p50 {percentile(ck, 0.5):.2f} ms, p95 {percentile(ck, 0.95):.2f} ms")

    if not args.no_spark and spark_available():
        ours_spark, spark_rows = spark_player("ours", landing)
        assert spark_rows == total, f"spark engine read {spark_rows} of {total} rows"
        peer, _ = spark_player("peer", landing)
        ours_spark_s, spark_s = statistics.median(ours_spark), statistics.median(peer)
        ours_spark_rate, spark_rate = total / ours_spark_s, total / spark_s
        rounds = f"median of {len(peer)} after a full-size warm-up run, own JVM"
        print(f"odibi-stream (spark):        {ours_spark_s:6.2f} s  {ours_spark_rate:12,.0f} rows/s "
              f"(engine: spark, local[2], {rounds}; rounds {_fmt(ours_spark)})")
        print(f"Spark Structured Streaming:  {spark_s:6.2f} s  {spark_rate:12,.0f} rows/s "
              f"(availableNow, local[2], {spark_sink_format()} sink, {rounds}; rounds {_fmt(peer)})")
        print(f"ratio odibi/spark: {ours_rate / spark_rate:.2f}x")
        metric = f"{total:,} JSON rows in {args.files} files -> SQL -> Delta"
        emit("files_to_delta", metric, "rows/s", whole_rate, spark_rate, "Spark SS availableNow (warm)",
             higher_is_better=True, scope="whole process (`odibi-stream run`) vs Spark warm")
        emit("files_to_delta", metric, "rows/s", ours_rate, spark_rate, "Spark SS availableNow (warm)",
             higher_is_better=True, scope="in-process")
        emit("files_to_delta", metric + ", engine: spark", "rows/s", ours_spark_rate, spark_rate,
             "Spark SS availableNow (warm)", higher_is_better=True, scope="in-process, both warm, own JVMs")
        print(f"ratio odibi(spark engine)/spark: {ours_spark_rate / spark_rate:.2f}x")
        print(f"ratio odibi(pandas)/odibi(spark engine): {ours_rate / ours_spark_rate:.2f}x")
    else:
        print("Spark Structured Streaming: skipped (pip install pyspark to compare)")

    if args.rss:
        subprocess.run([sys.executable, __file__, "--rss-child"], check=True)


if __name__ == "__main__":
    main()
