"""Idempotent sinks: Delta tables and part files (parquet / csv / jsonl).

Lifecycle (see :mod:`odibi_stream.connectors.base`): the runtime asks ``already_written(key)``
before writing batch N and skips the write when it is true; ``write`` re-checks (cheaply) and
writes the data together with its idempotency marker:

* Delta: the commit carries the transaction ``(app_id = "<pipeline>/<node>", version = N)``.
  delta-rs accepts an *older* version silently, so the ``>= N`` comparison is ours.
* Files: the file name is the marker, ``part-<N:020d>-<node>-0.<ext>``, written to
  ``.tmp-<name>`` in the same folder and renamed into place (atomic on one filesystem).
  A part of a later batch also counts as "already written" (batches are strictly ordered).
  Mode ``overwrite`` deletes the parts of older batches after the new part is in place.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from deltalake.exceptions import DeltaError, TableNotFoundError

from odibi_stream.clients.delta import delta_table
from odibi_stream.config.models import WriteConfig
from odibi_stream.config.project import Location
from odibi_stream.connectors.base import BatchKey, SinkResult
from odibi_stream.engines.base import Engine, Frame
from odibi_stream.exceptions import ConfigError, SinkError

FILE_SINK_FORMATS = ("parquet", "csv", "jsonl")


def _has_commits(uri: str) -> bool:
    log = Path(uri) / "_delta_log"
    return "://" not in uri and log.is_dir() and any(log.glob("*.json"))


def delta_txn_version(uri: str, storage_options: dict[str, str], app_id: str) -> int | None:
    """The last batch recorded for ``app_id`` in the Delta table at ``uri`` (None if none/no table)."""
    for attempt in range(2):
        try:
            with delta_table(uri, storage_options) as table:
                if table is None:
                    if _has_commits(uri):
                        raise TableNotFoundError("no files in log segment")
                    return None
                version = table.transaction_version(app_id)
            return None if version is None else int(version)
        except TableNotFoundError as exc:
            # Seen under heavy load: the table exists but could not be loaded. Answering
            # "not written" could write the batch twice, so let the runtime retry instead.
            raise SinkError(f"Delta table {uri} exists but could not be loaded: {exc}") from exc
        except DeltaError as exc:
            # A cached table whose log vanished (dropped/recreated): the cache was dropped on
            # the error, so one fresh look decides.
            if attempt:
                raise SinkError(f"Delta table {uri} could not be read: {exc}") from exc
    return None


def write_delta_idempotent(
    engine: Engine,
    frame: Frame,
    uri: str,
    write: WriteConfig | None,
    options: dict[str, str],
    app_id: str,
    batch: int,
) -> SinkResult:
    """Write ``frame`` as ``batch`` of ``app_id`` unless the table already holds it.

    Check and write happen under one table lock (the pandas engine's write reuses the open,
    current table), so no other thread of this process can slip a write in between.
    """
    with delta_table(uri, options):
        done = delta_txn_version(uri, options, app_id)
        if done is not None and done >= batch:
            return SinkResult(rows=0, skipped=True, detail={"app_id": app_id, "txn_version": done})
        version = engine.write_delta(
            frame,
            uri,
            mode=write.mode if write else "append",
            merge_keys=write.merge_keys if write else (),
            partition_by=write.partition_by if write else (),
            storage_options=options,
            txn=(app_id, batch),
        )
    return SinkResult(
        rows=engine.count(frame), skipped=False, detail={"version": version, "app_id": app_id}
    )


class DeltaSink:
    """Sink protocol implementation for Delta tables (append, overwrite, merge)."""

    def __init__(self, node: str, location: Location, write: WriteConfig) -> None:
        if write.format != "delta" or not write.path:
            raise ConfigError(f"node {node}: a Delta sink needs format: delta and a path")
        self.node = node
        self._uri = location.uri
        self._options = dict(location.storage_options)
        self._write = write

    def already_written(self, key: BatchKey) -> bool:
        """True if the table's transaction for ``key.app_id`` is at ``key.batch`` or later."""
        done = delta_txn_version(self._uri, self._options, key.app_id)
        return done is not None and done >= key.batch

    def write(self, engine: Engine, frame: Frame, key: BatchKey) -> SinkResult:
        """Write the batch with its transaction marker in the same commit; skip if present."""
        return write_delta_idempotent(
            engine, frame, self._uri, self._write, self._options, key.app_id, key.batch
        )


def part_name(batch: int, node: str, ext: str) -> str:
    """Deterministic file name of ``node``'s output for ``batch``."""
    return f"part-{batch:020d}-{node}-0.{ext}"


def part_batches(folder: Path, node: str, ext: str) -> dict[int, Path]:
    """Batch number → path of every part file of ``node`` in ``folder``."""
    pattern = re.compile(rf"^part-(\d{{20}})-{re.escape(node)}-\d+\.{re.escape(ext)}$")
    found: dict[int, Path] = {}
    if folder.is_dir():
        for entry in folder.iterdir():
            m = pattern.match(entry.name)
            if m:
                found[int(m.group(1))] = entry
    return found


def write_part(
    engine: Engine, frame: Frame, folder: Path, name: str, fmt: str, options: dict[str, object]
) -> Path:
    """Write ``folder/name`` atomically: a ``.tmp-`` file in the same folder, fsync, rename."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".tmp-{name}"
    final = folder / name
    engine.write_file(frame, str(tmp), fmt, options)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return final


class FileSink:
    """Sink protocol implementation for part files in a local folder (see module docstring)."""

    def __init__(self, node: str, location: Location, write: WriteConfig) -> None:
        if write.format not in FILE_SINK_FORMATS or not write.path:
            raise ConfigError(
                f"node {node}: a file sink needs format in {FILE_SINK_FORMATS} and a path"
            )
        if not location.is_local:
            raise ConfigError(
                f"node {node}: file sinks write to local folders only",
                hint="use format: delta for cloud storage",
            )
        if write.partition_by:
            raise ConfigError(f"node {node}: partition_by is supported for delta sinks only")
        self.node = node
        self._folder = Path(location.uri)
        self._write = write

    def already_written(self, key: BatchKey) -> bool:
        """True if the part of ``key.batch`` or of a later batch exists."""
        return any(b >= key.batch for b in part_batches(self._folder, key.node, self._write.format))

    def write(self, engine: Engine, frame: Frame, key: BatchKey) -> SinkResult:
        """Write the batch's part file (skip if present); overwrite removes older parts after."""
        name = part_name(key.batch, key.node, self._write.format)
        if self.already_written(key):
            return SinkResult(rows=0, skipped=True, detail={"file": str(self._folder / name)})
        final = write_part(
            engine, frame, self._folder, name, self._write.format, dict(self._write.options)
        )
        if self._write.mode == "overwrite":
            for batch, path in part_batches(self._folder, key.node, self._write.format).items():
                if batch < key.batch:
                    path.unlink(missing_ok=True)
        return SinkResult(rows=engine.count(frame), skipped=False, detail={"file": str(final)})
