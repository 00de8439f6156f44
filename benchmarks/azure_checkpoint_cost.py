"""Benchmark: checkpoint cost per batch on Azure Blob (Azurite) vs the local store, in-process.

Per batch, what the batch protocol does to the checkpoint store: the write-ahead create of
``offsets/N``, the lease check (a read of ``lease.json``) and the create of ``commits/N``. Both
the raw three store calls and the full ``PipelineLog`` path (whose ``write_commit`` also reads
the plan back) are timed, over ``--batches`` batches after a short warm-up, on the Azurite
instance of ``scripts/azurite-local.sh`` (started if needed, stopped again if this run started
it) and on a local folder. Prints p50/p95/max per batch in milliseconds.

    .venv/bin/python benchmarks/azure_checkpoint_cost.py [--batches 500]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import emit, percentile
from odibi_stream.checkpoints.azure_blob import AzureBlobCheckpointStore
from odibi_stream.checkpoints.entries import CommitEntry, OffsetsEntry, encode
from odibi_stream.checkpoints.lease import Lease
from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.checkpoints.log import PipelineLog
from odibi_stream.checkpoints.store import CheckpointStore
from odibi_stream.clients.azure import AzureTarget, blob_service_client
from odibi_stream.config.azure_auth import AzureAuth
from odibi_stream.config.project import AZURITE_KEY

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "azurite-local.sh"
NOW = datetime.now(timezone.utc)


def plan(n: int, epoch: int) -> OffsetsEntry:
    """A realistic plan: two sources with file ranges."""
    files = [
        {"path": f"landing/f{n}-{i}.csv", "size": 1000 + i, "mtime_ns": n * 1000 + i}
        for i in range(3)
    ]
    return OffsetsEntry(
        batch=n,
        epoch=epoch,
        created=NOW,
        sources={"files": {"files": files}, "k": {"0": [n, n + 1]}},
        watermarks={},
        config_fingerprint="f" * 64,
    )


def commit(n: int, epoch: int) -> CommitEntry:
    """The matching commit with per-node metrics."""
    nodes = {
        name: {"rows_in": 10, "rows_out": 10, "rejected": 0, "late": 0, "sink": {}}
        for name in ("src", "sink")
    }
    return CommitEntry(
        batch=n,
        epoch=epoch,
        committed=NOW,
        sources={"files": {}},
        watermarks={},
        nodes=nodes,
        metrics={"total": 1.0},
    )


def raw_batch(store: CheckpointStore, lease: Lease, n: int) -> None:
    """create offsets/N, read lease.json, create commits/N."""
    store.create(f"bench/offsets/{n}.json", encode(plan(n, lease.epoch)))
    lease.check()
    store.create(f"bench/commits/{n}.json", encode(commit(n, lease.epoch)))


def log_batch(log: PipelineLog, lease: Lease, n: int) -> None:
    """The runner's sequence: fence, write-ahead, fence, commit (reads the plan back)."""
    lease.check()
    log.write_offsets(plan(n, lease.epoch))
    lease.check()
    log.write_commit(commit(n, lease.epoch))


def measure(name: str, store: CheckpointStore, batches: int) -> dict[str, list[float]]:
    """Milliseconds per batch for both variants on ``store`` (fresh pipelines each)."""
    out: dict[str, list[float]] = {}
    lease = Lease(store, "bench", "bench-owner", ttl_seconds=3600)
    assert lease.try_acquire()
    variants: list[tuple[str, Callable[[int], None]]] = [
        ("raw: create + lease read + create", lambda n: raw_batch(store, lease, n)),
    ]
    log_lease = Lease(store, "bench2", "bench-owner", ttl_seconds=3600)
    assert log_lease.try_acquire()
    log = PipelineLog(store, "bench2")
    variants.append(("PipelineLog + 2 fence checks", lambda n: log_batch(log, log_lease, n)))
    for label, run in variants:
        for n in range(20):  # warm-up: connections, caches
            run(n)
        samples = []
        for n in range(20, 20 + batches):
            t0 = time.perf_counter()
            run(n)
            samples.append((time.perf_counter() - t0) * 1000)
        out[f"{name:8} {label}"] = samples
    return out


def azurite_endpoint() -> tuple[str, bool]:
    """(endpoint, started by us)."""
    running = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True).returncode == 0
    done = subprocess.run(
        ["bash", str(SCRIPT), "start"], capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1], not running


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=500)
    args = parser.parse_args()
    endpoint, started = azurite_endpoint()
    container = f"bench-{uuid.uuid4().hex[:8]}"
    target = AzureTarget(None, container, AzureAuth(account_key=AZURITE_KEY), endpoint)
    tmp = Path(tempfile.mkdtemp(prefix="odibi-ckpt-bench-"))
    results: dict[str, list[float]] = {}
    try:
        with blob_service_client(target) as svc:
            svc.create_container(container)
        with AzureBlobCheckpointStore.open(target, "ckpt") as store:
            results.update(measure("azurite", store, args.batches))
        results.update(measure("local", LocalCheckpointStore(tmp / "ckpt"), args.batches))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        with blob_service_client(target) as svc:
            svc.delete_container(container)
        if started:
            subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True)
    print(f"checkpoint cost per batch, {args.batches} batches each (ms):")
    azure = [v for k, v in results.items() if k.startswith("azurite")]
    local = [v for k, v in results.items() if k.startswith("local")]
    if azure and local:
        emit("azure_checkpoint_cost", "checkpoint store calls per batch, p50", "ms", percentile(azure[-1], 0.5),
             percentile(local[-1], 0.5), "local folder store", higher_is_better=False, scope="in-process")
    for label, samples in results.items():
        print(
            f"  {label:45} p50 {percentile(samples, 0.5):6.2f}  p95 {percentile(samples, 0.95):6.2f}"
            f"  max {max(samples):7.2f}"
        )


if __name__ == "__main__":
    main()
