"""A sink connector: one gzip-compressed JSON-lines file per batch, ``format: jsonl_gz``.

The file name ``part-<batch:020d>-<node>.jsonl.gz`` is the idempotency marker: a batch (or a
later one) whose file exists is already written. Files are written to a hidden temp name in the
same folder and renamed into place, so a crash never leaves a partial part.
"""

from __future__ import annotations

import gzip
import os
import re
from dataclasses import dataclass
from pathlib import Path

import orjson

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import WriteConfig
from odibi_stream.connectors.base import BatchKey, NoClients, SinkResult
from odibi_stream.connectors.factory import Connector, SinkRequest
from odibi_stream.engines.base import Engine, Frame
from odibi_stream.exceptions import ConfigError


@dataclass(frozen=True)
class GzipJsonlSpec:
    """A validated ``jsonl_gz`` sink (a local folder)."""

    node: str
    location: Location
    write: WriteConfig

    def __post_init__(self) -> None:
        if not self.location.is_local or not self.write.path:
            raise ConfigError(f"node {self.node}: format jsonl_gz writes to a local folder path")
        if self.write.mode != "append":
            raise ConfigError(f"node {self.node}: format jsonl_gz supports mode: append only")

    def open(self) -> GzipJsonlSink:
        """A writer into the folder (no client to hold)."""
        return GzipJsonlSink(Path(self.location.uri), self.node)


class GzipJsonlSink(NoClients):
    """Writes each batch as ``part-<N>-<node>.jsonl.gz``."""

    def __init__(self, folder: Path, node: str) -> None:
        self.node = node
        self.folder = folder

    def _batches(self, node: str) -> list[int]:
        pattern = re.compile(rf"^part-(\d{{20}})-{re.escape(node)}\.jsonl\.gz$")
        if not self.folder.is_dir():
            return []
        return [int(m.group(1)) for p in self.folder.iterdir() if (m := pattern.match(p.name))]

    def already_written(self, key: BatchKey) -> bool:
        """True if this node's file of ``key.batch`` or of a later batch exists."""
        return any(b >= key.batch for b in self._batches(key.node))

    def write(self, engine: Engine, frame: Frame, key: BatchKey) -> SinkResult:
        """Write the batch's file unless it (or a later one) exists."""
        name = f"part-{key.batch:020d}-{key.node}.jsonl.gz"
        if self.already_written(key):
            return SinkResult(rows=0, skipped=True, detail={"file": name})
        rows = engine.to_arrow(frame).to_pylist()
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".tmp-{name}"
        with gzip.open(tmp, "wb") as fh:
            for row in rows:
                fh.write(orjson.dumps(row, default=str) + b"\n")
        os.replace(tmp, self.folder / name)
        return SinkResult(rows=len(rows), skipped=False, detail={"file": name})


def _sink(req: SinkRequest) -> GzipJsonlSpec:
    assert req.node.write is not None
    return GzipJsonlSpec(req.node.name, req.location, req.node.write)


CONNECTOR = Connector("example-jsonl-gz", ("jsonl_gz",), source=None, sink=_sink)
