"""Idempotent part-file sinks (parquet / csv / jsonl) in a local folder.

The file name is the idempotency marker: ``part-<N:020d>-<node>-0.<ext>``, written to
``.tmp-<name>`` in the same folder, fsynced and renamed into place (atomic on one file system).
A part of a later batch also counts as "already written" (batches are strictly ordered). Mode
``overwrite`` deletes the parts of older batches after the new part is in place. Dead letters
in jsonl use the same helpers.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from odibi_stream.config.models import WriteConfig
from odibi_stream.config.project import Location
from odibi_stream.connectors.base import BatchKey, NoClients, SinkResult
from odibi_stream.engines.base import Engine, Frame, OptionsArg
from odibi_stream.exceptions import ConfigError

FILE_SINK_FORMATS = ("parquet", "csv", "jsonl")


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
    engine: Engine, frame: Frame, folder: Path, name: str, fmt: str, options: OptionsArg = None
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


@dataclass(frozen=True)
class FileSinkSpec:
    """A validated part-file sink; opens a :class:`FileSink`.

    Raises (on construction):
        ConfigError: a format the sink cannot write, no path, a remote location, partition_by.
    """

    node: str
    location: Location
    write: WriteConfig

    def __post_init__(self) -> None:
        if self.write.format not in FILE_SINK_FORMATS or not self.write.path:
            raise ConfigError(
                f"node {self.node}: a file sink needs format in {FILE_SINK_FORMATS} and a path"
            )
        if not self.location.is_local:
            raise ConfigError(
                f"node {self.node}: file sinks write to local folders only",
                hint="use format: delta for cloud storage",
            )
        if self.write.partition_by:
            raise ConfigError(f"node {self.node}: partition_by is supported for delta sinks only")

    def open(self) -> FileSink:
        """A writer into the folder (no client to hold)."""
        return FileSink(self)


class FileSink(NoClients):
    """Sink protocol implementation for part files in a local folder (see module docstring)."""

    def __init__(self, spec: FileSinkSpec) -> None:
        self.node = spec.node
        self._folder = Path(spec.location.uri)
        self._write = spec.write

    def already_written(self, key: BatchKey) -> bool:
        """True if the part of ``key.batch`` or of a later batch exists."""
        return any(b >= key.batch for b in part_batches(self._folder, key.node, self._write.format))

    def write(self, engine: Engine, frame: Frame, key: BatchKey) -> SinkResult:
        """Write the batch's part file (skip if present); overwrite removes older parts after."""
        name = part_name(key.batch, key.node, self._write.format)
        if self.already_written(key):
            return SinkResult(rows=0, skipped=True, detail={"file": str(self._folder / name)})
        final = write_part(
            engine, frame, self._folder, name, self._write.format, self._write.options
        )
        if self._write.mode == "overwrite":
            for batch, path in part_batches(self._folder, key.node, self._write.format).items():
                if batch < key.batch:
                    path.unlink(missing_ok=True)
        return SinkResult(rows=engine.count(frame), skipped=False, detail={"file": str(final)})
