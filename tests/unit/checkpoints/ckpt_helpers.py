"""Builders shared by the checkpoint tests (plain data, no fakes)."""

from __future__ import annotations

from datetime import datetime, timezone

from odibi_stream.checkpoints.entries import CommitEntry, OffsetsEntry, Snapshot
from odibi_stream.checkpoints.log import PipelineLog

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def plan(n: int, epoch: int = 1) -> OffsetsEntry:
    """A plan for batch n that reads offsets [10n, 10n+10) of source ``src``."""
    return OffsetsEntry(
        batch=n,
        epoch=epoch,
        created=T0,
        sources={"src": {"start": 10 * n, "end": 10 * n + 10}},
        watermarks={"src": n},
        config_fingerprint="fp",
    )


def commit(n: int, epoch: int = 1) -> CommitEntry:
    """The commit matching :func:`plan`."""
    return CommitEntry(
        batch=n,
        epoch=epoch,
        committed=T0,
        sources={"src": {"start": 10 * n, "end": 10 * n + 10}},
        watermarks={"src": n},
        nodes={"src": {"rows_in": 10, "rows_out": 10, "rejected": 0, "late": 0, "sink": {}}},
        metrics={"total": 1.0},
    )


def run_batches(log: PipelineLog, count: int, start: int = 0) -> None:
    """Plan and commit ``count`` batches starting at ``start``."""
    for n in range(start, start + count):
        log.write_offsets(plan(n))
        log.write_commit(commit(n))


def snapshot_of(n: int) -> Snapshot:
    """State as of batch n: the source has consumed up to 10n+10."""
    return Snapshot(batch=n, states={"src": {"end": 10 * n + 10}}, watermarks={"src": n})


def compact_keeping(log: PipelineLog, retain: int) -> int:
    """Compact so that the newest ``retain`` commits stay (as the protocol's retain step does)."""
    committed = [c.batch for c in log.recover().commits]
    if len(committed) <= retain:
        return log.compact(snapshot_of(-1))  # at or below the floor: only sweeps leftovers
    return log.compact(snapshot_of(committed[-retain - 1]))
