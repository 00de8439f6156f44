"""Idempotent part-file sinks (parquet / csv / jsonl) in a local folder or an Azure folder.

The file name is the idempotency marker: ``part-<N:020d>-<node>-0.<ext>``. Locally it is
written to ``.tmp-<name>`` in the same folder, fsynced and renamed into place (atomic on one
file system); on Azure Blob/ADLS it is uploaded create-exclusive
(:mod:`odibi_stream.connectors.blob_parts`). A part of a later batch also counts as "already
written" (batches are strictly ordered). Mode ``overwrite`` deletes the parts of older batches
after the new part is in place. Dead letters in jsonl use the same part folders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from odibi_stream.clients.locations import Location, require_blob_sdk
from odibi_stream.config.models import WriteConfig
from odibi_stream.connectors.base import BatchKey, SinkResult
from odibi_stream.connectors.blob_parts import part_pattern
from odibi_stream.engines.base import Engine, Frame, OptionsArg
from odibi_stream.exceptions import ConfigError

FILE_SINK_FORMATS = ("parquet", "csv", "jsonl")


def part_name(batch: int, node: str, ext: str) -> str:
    """Deterministic file name of ``node``'s output for ``batch``."""
    return f"part-{batch:020d}-{node}-0.{ext}"


def part_batches(folder: Path, node: str, ext: str) -> dict[int, Path]:
    """Batch number → path of every part file of ``node`` in ``folder``."""
    pattern = part_pattern(node, ext)
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


class PartFolder(Protocol):
    """A folder of part files: local (:class:`LocalParts`) or Azure (``BlobParts``)."""

    def where(self, name: str) -> str:
        """Printable location of part ``name``."""
        ...

    def batches(self, node: str, ext: str) -> dict[int, str]:
        """Batch number → name of every part of ``node``."""
        ...

    def write(
        self, engine: Engine, frame: Frame, name: str, fmt: str, options: OptionsArg
    ) -> str | None:
        """Write part ``name`` whole; returns where, or None if it already existed."""
        ...

    def remove(self, name: str) -> None:
        """Delete part ``name`` (already gone is fine)."""
        ...

    def close(self) -> None:
        """Release the client (idempotent)."""
        ...


class LocalParts:
    """Part files in a local folder (temp file + fsync + rename)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def where(self, name: str) -> str:
        """The part's path."""
        return str(self._folder / name)

    def batches(self, node: str, ext: str) -> dict[int, str]:
        """Batch number → name of every part of ``node``."""
        return {b: p.name for b, p in part_batches(self._folder, node, ext).items()}

    def write(
        self, engine: Engine, frame: Frame, name: str, fmt: str, options: OptionsArg
    ) -> str | None:
        """Write the part atomically; returns its path."""
        return str(write_part(engine, frame, self._folder, name, fmt, options))

    def remove(self, name: str) -> None:
        """Delete the part."""
        (self._folder / name).unlink(missing_ok=True)

    def close(self) -> None:
        """Nothing to release."""


def open_parts(location: Location) -> PartFolder:
    """The part folder at ``location`` (Azure: opens a Blob client, no I/O yet)."""
    if location.blob is not None:
        from odibi_stream.connectors.blob_parts import BlobParts

        return BlobParts(location.blob)
    return LocalParts(Path(location.uri))


def check_part_location(location: Location, what: str) -> None:
    """Raise a ConfigError unless part files can be written at ``location``."""
    if not location.is_local and location.blob is None:
        raise ConfigError(
            f"{what}: part files are written to local folders and azure_blob/adls connections",
            hint="use a local or Azure connection",
        )
    require_blob_sdk(location, what)


@dataclass(frozen=True)
class FileSinkSpec:
    """A validated part-file sink; opens a :class:`FileSink`.

    Raises (on construction):
        ConfigError: a format the sink cannot write, no path, a location that cannot hold
            files, partition_by.
    """

    node: str
    location: Location
    write: WriteConfig

    def __post_init__(self) -> None:
        if self.write.format not in FILE_SINK_FORMATS or not self.write.path:
            raise ConfigError(
                f"node {self.node}: a file sink needs format in {FILE_SINK_FORMATS} and a path"
            )
        check_part_location(self.location, f"node {self.node}")
        if self.write.partition_by:
            raise ConfigError(f"node {self.node}: partition_by is supported for delta sinks only")

    def open(self) -> FileSink:
        """A writer into the folder (an Azure folder's client lives until ``close``)."""
        return FileSink(self)


class FileSink:
    """Sink protocol implementation for part files in a folder (see module docstring)."""

    def __init__(self, spec: FileSinkSpec) -> None:
        self.node = spec.node
        self._parts = open_parts(spec.location)
        self._write = spec.write

    def already_written(self, key: BatchKey) -> bool:
        """True if the part of ``key.batch`` or of a later batch exists."""
        return any(b >= key.batch for b in self._parts.batches(key.node, self._write.format))

    def write(self, engine: Engine, frame: Frame, key: BatchKey) -> SinkResult:
        """Write the batch's part file (skip if present); overwrite removes older parts after."""
        fmt = self._write.format
        name = part_name(key.batch, key.node, fmt)
        if self.already_written(key):
            return SinkResult(rows=0, skipped=True, detail={"file": self._parts.where(name)})
        final = self._parts.write(engine, frame, name, fmt, self._write.options)
        if final is None:  # landed by an earlier attempt of this batch
            return SinkResult(rows=0, skipped=True, detail={"file": self._parts.where(name)})
        if self._write.mode == "overwrite":
            for batch, old in self._parts.batches(key.node, fmt).items():
                if batch < key.batch:
                    self._parts.remove(old)
        return SinkResult(rows=engine.count(frame), skipped=False, detail={"file": final})

    def close(self) -> None:
        """Release the folder's client."""
        self._parts.close()
