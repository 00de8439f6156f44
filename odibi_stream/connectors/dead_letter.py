"""Dead letters: records that could not be used, kept with why, where from and when.

Every dead letter has the same columns, whatever produced it:

=================  ==========================  =========================================
column             type                        meaning
=================  ==========================  =========================================
``_odibi_record``  string                      the raw record (line text, JSON of a row)
``_odibi_error``   string                      why it was rejected
``_odibi_source``  string                      where it came from (``file:line``, node)
``_odibi_node``    string                      the node that rejected it
``_odibi_batch``   int64                       the batch number
``_odibi_time``    timestamp[us, tz=UTC]       when it was rejected
=================  ==========================  =========================================

Lifecycle: within batch N the runtime collects parse rejects (:func:`to_frame`) and rejected
rows (:func:`frame_rejects`: failed checks, late rows) per node, unions them, and calls
``DeadLetterSink.write(engine, frame, key)`` before committing N. Writes are idempotent per
(pipeline, node, batch): Delta with transaction ``app_id = "<pipeline>/_dead_letter/<node>"``,
jsonl with the deterministic file ``part-<N:020d>-<node>-0.jsonl``. Both work on local folders
and Azure Blob/ADLS (Delta through delta-rs/Spark options, jsonl parts uploaded
create-exclusive).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import DeadLetterConfig
from odibi_stream.connectors.base import BatchKey, SinkResult
from odibi_stream.connectors.delta import delta_txn_version, write_delta_idempotent
from odibi_stream.connectors.files_sink import (
    PartFolder,
    check_part_location,
    open_parts,
    part_name,
)
from odibi_stream.connectors.storage_errors import azure_storage
from odibi_stream.core.clock import utc_now
from odibi_stream.core.redact import redact, redact_record
from odibi_stream.engines.base import Engine, Frame, Reject
from odibi_stream.exceptions import SinkError

DEAD_LETTER_SCHEMA = pa.schema(
    [
        ("_odibi_record", pa.string()),
        ("_odibi_error", pa.string()),
        ("_odibi_source", pa.string()),
        ("_odibi_node", pa.string()),
        ("_odibi_batch", pa.int64()),
        ("_odibi_time", pa.timestamp("us", tz="UTC")),
    ]
)


def _table(
    records: Sequence[str],
    errors: Sequence[str],
    sources: Sequence[str],
    node: str,
    batch: int,
    now: datetime,
) -> pa.Table:
    n = len(records)
    # Reasons quote user expressions and paths; records hold what a third party wrote (masked
    # whole only: masking fragments of chosen text would be an oracle for its writer).
    return pa.table(
        [
            pa.array([redact_record(r) for r in records], pa.string()),
            pa.array([redact(e) for e in errors], pa.string()),
            pa.array([redact(s) for s in sources], pa.string()),
            pa.array([node] * n, pa.string()),
            pa.array([batch] * n, pa.int64()),
            pa.array([now] * n, pa.timestamp("us", tz="UTC")),
        ],
        schema=DEAD_LETTER_SCHEMA,
    )


def to_frame(
    engine: Engine,
    rejects: Sequence[Reject],
    node: str,
    batch: int,
    clock: Callable[[], datetime] = utc_now,
) -> Frame:
    """Turn parse rejects into a dead-letter frame of ``engine``."""
    table = _table(
        [r.record for r in rejects],
        [r.error for r in rejects],
        [r.source for r in rejects],
        node,
        batch,
        clock(),
    )
    return engine.from_arrow(table)


def frame_rejects(
    engine: Engine,
    frame: Frame,
    error: str,
    node: str,
    batch: int,
    clock: Callable[[], datetime] = utc_now,
) -> Frame:
    """Turn rejected rows of a frame (failed checks, late rows) into a dead-letter frame.

    Each row's record is its JSON text; ``_odibi_source`` is ``node:<node>``.
    """
    records = engine.to_json_records(frame)
    n = len(records)
    return engine.from_arrow(
        _table(records, [error] * n, [f"node:{node}"] * n, node, batch, clock())
    )


@dataclass(frozen=True)
class DeadLetterSpec:
    """A validated dead-letter target; opens a :class:`DeadLetterSink`.

    Raises (on construction):
        ConfigError: jsonl dead letters where no files can be written.
    """

    location: Location
    config: DeadLetterConfig
    pipeline: str
    node: str = "_dead_letter"

    def __post_init__(self) -> None:
        if self.config.format == "jsonl":
            check_part_location(self.location, "jsonl dead letters")

    def open(self) -> DeadLetterSink:
        """A writer of dead letters (a jsonl folder on Azure holds a client until closed)."""
        return DeadLetterSink(self)


class DeadLetterSink:
    """Idempotent writer of dead-letter frames (one write per node and batch)."""

    node = "_dead_letter"

    def __init__(self, spec: DeadLetterSpec) -> None:
        self._location = spec.location
        self._uri = spec.location.uri
        self._options = dict(spec.location.storage_options)
        self._format = spec.config.format
        self._pipeline = spec.pipeline
        self._parts: PartFolder | None = (
            open_parts(spec.location) if self._format == "jsonl" else None
        )
        self._local = spec.location.is_local
        self._dir_mode = int(spec.config.dir_mode, 8)
        self._file_mode = int(spec.config.file_mode, 8)

    def _private_folder(self) -> None:
        """Create the local dead-letter folder with ``dir_mode`` (an existing one is left as is)."""
        folder = Path(self._uri)
        if self._local and not folder.exists():
            folder.mkdir(parents=True, exist_ok=True, mode=self._dir_mode)
            with suppress(PermissionError):  # exactly the setting, whatever the umask
                os.chmod(folder, self._dir_mode)

    def app_id(self, node: str) -> str:
        """Delta transaction id of ``node``'s dead letters."""
        return f"{self._pipeline}/_dead_letter/{node}"

    def already_written(self, key: BatchKey) -> bool:
        """True if ``key.node``'s dead letters of ``key.batch`` (or later) are stored."""
        if self._parts is not None:
            return any(b >= key.batch for b in self._parts.batches(key.node, "jsonl"))
        with azure_storage(self._location, "reading dead letters", SinkError):
            done = delta_txn_version(self._uri, self._options, self.app_id(key.node))
        return done is not None and done >= key.batch

    def write(self, engine: Engine, frame: Frame, key: BatchKey) -> SinkResult:
        """Append ``frame`` (dead-letter schema) as ``key.node``'s dead letters of ``key.batch``."""
        self._private_folder()
        if self._format == "delta":
            with azure_storage(self._location, "writing dead letters", SinkError):
                return write_delta_idempotent(
                    engine, frame, self._uri, None, self._options, key, self.app_id(key.node)
                )
        assert self._parts is not None  # jsonl
        name = part_name(key.batch, key.node, "jsonl")
        if self.already_written(key):
            return SinkResult(rows=0, skipped=True, detail={"file": self._parts.where(name)})
        final = self._parts.write(engine, frame, name, "jsonl", {})
        if final is None:  # landed by an earlier attempt of this batch
            return SinkResult(rows=0, skipped=True, detail={"file": self._parts.where(name)})
        if self._local:
            with suppress(PermissionError):  # a mount without POSIX modes keeps its own rules
                os.chmod(final, self._file_mode)
        return SinkResult(rows=engine.count(frame), skipped=False, detail={"file": final})

    def close(self) -> None:
        """Release the jsonl folder's client, if any."""
        if self._parts is not None:
            self._parts.close()
