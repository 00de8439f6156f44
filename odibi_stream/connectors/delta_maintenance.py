"""Delta table maintenance operations: compaction, vacuum, log checkpoints.

Each function runs one operation on one table and returns a JSON-ready result::

    {"operation": "optimize", "files_before": 61, "files_after": 1, "files_added": 1,
     "files_removed": 61, "version": 61, "duration_ms": 46.7}

Engines that own their Delta stack (Spark: delta-spark) implement the capability
:class:`~odibi_stream.engines.base.SupportsDeltaMaintenance` and are used as they are; any other
engine's tables are maintained with delta-rs.

Exactly-once is untouched by all three: compaction rewrites data files in a commit without
``dataChange``, vacuum only deletes files no retained version references, and checkpoints carry
every application's latest transaction (``txn``) action — so ``transaction_version(app_id)``
answers the same before and after, and a replayed batch is still skipped. The delta-rs
operations run inside the table's ``clients.delta`` lock, so no write of this process can
interleave; the caller (``runtime.maintenance``) runs them between two batches of the owning
pipeline, under its lease.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from odibi_stream.clients.delta import delta_table
from odibi_stream.engines.base import Engine, SupportsDeltaMaintenance

OPERATIONS = ("optimize", "vacuum", "checkpoint")
"""Maintenance operations, in the order they run after a batch."""


def optimize(
    engine: Engine, uri: str, storage_options: Mapping[str, str], target_file_size: int
) -> dict[str, Any]:
    """Compact small files towards ``target_file_size`` bytes."""
    if isinstance(engine, SupportsDeltaMaintenance):
        return _timed("optimize", lambda: engine.optimize_delta(uri, storage_options, target_file_size))
    return _timed("optimize", lambda: _rs_optimize(uri, storage_options, target_file_size))


def vacuum(
    engine: Engine, uri: str, storage_options: Mapping[str, str], retain_hours: float
) -> dict[str, Any]:
    """Delete files that no version younger than ``retain_hours`` references."""
    if isinstance(engine, SupportsDeltaMaintenance):
        return _timed("vacuum", lambda: engine.vacuum_delta(uri, storage_options, retain_hours))
    return _timed("vacuum", lambda: _rs_vacuum(uri, storage_options, retain_hours))


def checkpoint(engine: Engine, uri: str, storage_options: Mapping[str, str]) -> dict[str, Any]:
    """Write a checkpoint of the table's log at its current version."""
    if isinstance(engine, SupportsDeltaMaintenance):
        return _timed("checkpoint", lambda: engine.checkpoint_delta(uri, storage_options))
    return _timed("checkpoint", lambda: _rs_checkpoint(uri, storage_options))


def _timed(operation: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    t0 = time.perf_counter()
    result = run()
    return {"operation": operation, **result, "duration_ms": round((time.perf_counter() - t0) * 1000, 3)}


def _absent() -> dict[str, Any]:
    return {"skipped": True, "reason": "no table yet"}


def _rs_optimize(uri: str, storage_options: Mapping[str, str], target: int) -> dict[str, Any]:
    with delta_table(uri, storage_options) as table:
        if table is None:
            return _absent()
        before = len(table.file_uris())
        # One task: maintenance shares the machine with the pipelines' own batches.
        found = table.optimize.compact(target_size=target, max_concurrent_tasks=1)
        return {
            "files_before": before,
            "files_after": len(table.file_uris()),
            "files_added": int(found.get("numFilesAdded", 0)),
            "files_removed": int(found.get("numFilesRemoved", 0)),
            "version": table.version(),
        }


def _rs_vacuum(uri: str, storage_options: Mapping[str, str], retain_hours: float) -> dict[str, Any]:
    hours = max(0, int(retain_hours))
    with delta_table(uri, storage_options) as table:
        if table is None:
            return _absent()
        files = len(table.file_uris())
        deleted = table.vacuum(
            retention_hours=hours, dry_run=False,
            # A configured retain below the table's default (7 days) is the operator's choice.
            enforce_retention_duration=False,
        )
        return {
            "files_before": files,
            "files_after": files,
            "files_deleted": len(deleted),
            "version": table.version(),
        }


def _rs_checkpoint(uri: str, storage_options: Mapping[str, str]) -> dict[str, Any]:
    with delta_table(uri, storage_options) as table:
        if table is None:
            return _absent()
        table.create_checkpoint()
        files = len(table.file_uris())
        return {"files_before": files, "files_after": files, "version": table.version()}
