"""Benchmark: Blob landing → SQL → Delta on Blob (checkpoints on Blob) vs the same on local disk.

One run, same data, same pipeline, same process:

* **throughput**: ``--files`` JSON-lines files of ``--rows`` rows → SQL projection/filter →
  Delta append, ``--batch-files`` files per batch; rows/s of the whole catch-up run, on local
  disk and on Azurite (landing, lake and checkpoints in three containers).
* **checkpoint overhead per batch**: write-ahead + commit step time (p50/p95) of every batch of
  a run of many one-file batches (``--small``), on both backends.
* **read path** (Azure only): one batch of ``--batch-files`` files read three ways — download
  to a temporary folder + the engine's file reader (what the files source does), blob bytes in
  memory + pyarrow, and pyarrow's own ``AzureFileSystem`` streams — median of ``--repeat``.

Uses the Azurite of ``scripts/azurite-local.sh`` (started if needed, stopped again if this run
started it). Prints the machine's load average before and after (the numbers depend on it).

    .venv/bin/python benchmarks/azure_files_to_delta.py [--files 100] [--rows 2000]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import SQL, WORK, make_jsonl, percentile
from odibi_stream.clients.azure import AzureTarget, blob_service_client
from odibi_stream.clients.azure_files import BlobFileSystem
from odibi_stream.config.azure_auth import AzureAuth
from odibi_stream.config.project import AZURITE_ACCOUNT, AZURITE_KEY

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "azurite-local.sh"

ODIBI_LOCAL = """\
project: bench_local
checkpoint: {root: ./checkpoints}
connections:
  local: {type: local, base_path: ./data}
"""

ODIBI_AZURE = """\
project: bench_azure
checkpoint: {{connection: ckpt, path: _checkpoints}}
connections:
{connections}
"""

PIPELINE = """\
pipeline: bench
nodes:
  - name: raw
    read:
      connection: {landing}
      format: jsonl
      path: {glob}
      options: {{schema: {{id: int64, user_id: int64, amount: double, kind: string, ts: string, payload: string}}}}
      incremental: {{mode: files, max_files_per_batch: {batch_files}, settle_seconds: 0}}
  - name: shaped
    depends_on: [raw]
    transform: {{sql: "{sql}"}}
  - name: sink
    depends_on: [shaped]
    write: {{connection: {lake}, format: delta, path: {table}, mode: append}}
"""


def azurite_endpoint() -> tuple[str, bool]:
    """(endpoint, started by us)."""
    running = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True).returncode == 0
    done = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1], not running


def target(endpoint: str, container: str | None) -> AzureTarget:
    return AzureTarget(None, container, AzureAuth(account_key=AZURITE_KEY), endpoint)  # type: ignore[arg-type]


def write(root: Path, odibi: str, pipeline: str) -> Path:
    if root.exists():
        shutil.rmtree(root)
    (root / "pipelines").mkdir(parents=True)
    (root / "odibi.yaml").write_text(odibi)
    (root / "pipelines" / "bench.yaml").write_text(pipeline)
    return root


def local_project(root: Path, source: Path, batch_files: int) -> Path:
    project = write(
        root, ODIBI_LOCAL,
        PIPELINE.format(landing="local", glob="landing/*.jsonl", batch_files=batch_files, sql=SQL,
                        lake="local", table="lake/events"),
    )
    shutil.copytree(source, project / "data" / "landing", ignore=shutil.ignore_patterns(".*"))
    return project


def azure_project(root: Path, endpoint: str, source: Path, batch_files: int) -> tuple[Path, list[str]]:
    names = [f"bench-{kind}-{uuid.uuid4().hex[:8]}" for kind in ("landing", "lake", "ckpt")]
    with blob_service_client(target(endpoint, None)) as service:
        for name in names:
            service.create_container(name)
    conns = "\n".join(
        f'  {key}: {{type: azure_blob, container: {name}, endpoint: "{endpoint}", '
        f'auth: {{account_key: "{AZURITE_KEY}"}}}}'
        for key, name in zip(("landing", "lake", "ckpt"), names, strict=True)
    )
    project = write(
        root, ODIBI_AZURE.format(connections=conns),
        PIPELINE.format(landing="landing", glob="in/*.jsonl", batch_files=batch_files, sql=SQL,
                        lake="lake", table="tables/events"),
    )
    files = sorted(p for p in source.glob("*.jsonl"))
    with BlobFileSystem.open(target(endpoint, names[0]), "in") as fs, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: fs.upload(p.name, p), files))
    return project, names


def run(project: Path) -> dict[str, Any]:
    """Catch the pipeline up in-process; rows/s and per-batch step times."""
    from odibi_stream.service.one_shot import run_pipeline
    from odibi_stream.service.project import load

    loaded = load(project)
    t0 = time.perf_counter()
    reports = run_pipeline(loaded, "bench")
    seconds = time.perf_counter() - t0
    rows = sum(r.counts.rows_in for r in reports)
    steps: dict[str, list[float]] = {}
    for r in reports:
        for step, ms in r.trace.steps_ms.items():
            steps.setdefault(step, []).append(ms)
    return {
        "batches": len(reports),
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds if seconds else 0.0,
        "checkpoint_ms": [r.trace.checkpoint_ms for r in reports],
        "steps": steps,
    }


def read_paths(endpoint: str, container: str, names: list[str], repeat: int) -> dict[str, float]:
    """Median seconds to read ``names`` (one batch) three ways."""
    import pyarrow.fs as pafs
    import pyarrow.json as pajson

    from odibi_stream.clients.locations import BlobRoot
    from odibi_stream.config.models import IncrementalConfig, ReadConfig
    from odibi_stream.connectors.blob_files import BlobFiles
    from odibi_stream.engines.pandas import PandasEngine

    engine = PandasEngine()
    read = ReadConfig(connection="c", format="jsonl", path="in/*.jsonl",
                      incremental=IncrementalConfig(mode="files"))
    store = BlobFiles(BlobRoot(target(endpoint, container), "", "in/*.jsonl"), read)
    entries = [e for e in store.listing() if e["path"] in set(names)]
    host = endpoint.split("//", 1)[1].split("/", 1)[0]
    azfs = pafs.AzureFileSystem(
        account_name=AZURITE_ACCOUNT, account_key=AZURITE_KEY, blob_storage_authority=host,
        blob_storage_scheme="http",
    )
    fs = BlobFileSystem.open(target(endpoint, container))

    def download() -> int:
        with store.fetch(entries) as fetched:
            return int(engine.read_files(fetched.paths, "jsonl", {}).frame.num_rows)

    def in_memory() -> int:
        with ThreadPoolExecutor(8) as pool:
            blobs = list(pool.map(lambda e: fs.read_bytes(e["path"], etag=e["etag"]), entries))
        return sum(pajson.read_json(io.BytesIO(b)).num_rows for b in blobs)

    def arrow_fs() -> int:
        def one(name: str) -> int:
            with azfs.open_input_stream(f"{container}/{name}") as stream:
                return int(pajson.read_json(stream).num_rows)

        with ThreadPoolExecutor(8) as pool:
            return sum(pool.map(one, [e["path"] for e in entries]))

    out: dict[str, float] = {}
    try:
        for label, fn in (("download+engine", download), ("bytes+pyarrow", in_memory),
                          ("pyarrow AzureFileSystem", arrow_fs)):
            fn()  # warm-up (connections, imports)
            out[label] = statistics.median(_time(fn) for _ in range(repeat))
    finally:
        store.close()
        fs.close()
    return out


def _time(fn: Callable[[], int]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def summary(label: str, result: dict[str, Any]) -> str:
    ck = result["checkpoint_ms"]
    return (
        f"{label:>6}: {result['rows']:>8} rows in {result['batches']:>3} batches, "
        f"{result['seconds']:6.2f} s = {result['rows_per_s']:>9,.0f} rows/s; "
        f"checkpoint/batch p50 {percentile(ck, 0.5):6.1f} ms p95 {percentile(ck, 0.95):6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rows", type=int, default=2000, help="rows per file")
    parser.add_argument("--batch-files", type=int, default=10)
    parser.add_argument("--small", type=int, default=40, help="one-file batches for the overhead run")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
    endpoint, started = azurite_endpoint()
    work = WORK / "azure_files_to_delta"
    source = work / f"source-{args.files}x{args.rows}"
    small = work / f"small-{args.small}x100"
    make_jsonl(source, args.files, args.rows)
    make_jsonl(small, args.small, 100, seed=2)
    created: list[str] = []
    try:
        results = {}
        results["local"] = run(local_project(work / "local", source, args.batch_files))
        az, names = azure_project(work / "azure", endpoint, source, args.batch_files)
        created += names
        results["azure"] = run(az)
        overhead = {}
        overhead["local"] = run(local_project(work / "local-small", small, 1))
        az_small, small_names = azure_project(work / "azure-small", endpoint, small, 1)
        created += small_names
        overhead["azure"] = run(az_small)
        batch = [f"part-{i:05d}.jsonl" for i in range(args.batch_files)]
        reads = read_paths(endpoint, names[0], [f"in/{n}" for n in batch], args.repeat)
        size = sum((source / n).stat().st_size for n in batch)
        print(f"\nthroughput ({args.files} files x {args.rows} rows, {args.batch_files} files/batch):")
        for label, res in results.items():
            print(summary(label, res))
        ratio = results["azure"]["rows_per_s"] / results["local"]["rows_per_s"]
        print(f"azure/local throughput: {ratio:.2f}")
        print(f"\ncheckpoint overhead ({args.small} one-file batches):")
        for label, res in overhead.items():
            print(summary(label, res))
        print("\nper-batch step medians, ms (throughput run):")
        for label, res in results.items():
            medians = {k: round(statistics.median(v), 1) for k, v in res["steps"].items()}
            print(f"{label:>6}: {medians}")
        print(f"\nread path, one batch of {args.batch_files} files ({size / 1e6:.1f} MB), median of {args.repeat}:")
        for label, seconds in reads.items():
            print(f"  {label:<24} {seconds * 1000:7.1f} ms")
    finally:
        with blob_service_client(target(endpoint, None)) as service:
            for name in created:
                service.delete_container(name)
        if started:
            subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True)
        print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
