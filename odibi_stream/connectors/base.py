"""Source and Sink protocols: how the runtime plans, reads and writes incrementally.

Positions are JSON-serialisable dicts, opaque to the runtime, persisted in the checkpoint.
Two shapes matter:

* a **range** describes one batch's input (written to ``offsets/N`` before any work and
  replayed verbatim after a crash);
* a **state** is a source's position after all committed batches (what ``plan`` continues
  from). ``fold(state, range)`` advances a state past a committed range. States are kept in the
  checkpoint snapshot when old log entries are compacted away.

Lifecycle contract (who calls what, when):
    1. The runtime builds sources/sinks from config once per pipeline load.
    2. On recovery it rebuilds each source's state: ``initial_state()`` or the snapshot's state,
       then ``fold`` for every committed batch after the snapshot.
    3. To plan batch N it calls ``plan(state)``; ``None`` means "no new data". ``plan`` must be
       side-effect free and bounded by the source's rate limits.
    4. It writes the range into ``offsets/N`` and only then calls ``read(engine, range, ...)``.
       ``read`` must return exactly the same records for the same range, every time.
    5. After ``commits/N`` is durable it calls ``on_commit(range)`` (archive/delete files,
       acknowledge consumer-group offsets). Failures there are logged, never undo the commit,
       and the call must tolerate being repeated after a crash.

Sinks: before writing batch N the runtime asks ``already_written(batch)``; if False it calls
``write(engine, frame, batch)``, which must make the write and its idempotency marker land
atomically (Delta txn action, deterministic file names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from odibi_stream.engines.base import Engine, Frame, ReadResult

Position = dict[str, Any]


@dataclass(frozen=True)
class BatchKey:
    """Identity of one node's output for one batch: the idempotency key of sinks."""

    pipeline: str
    node: str
    batch: int

    @property
    def app_id(self) -> str:
        """Delta transaction application id (``<pipeline>/<node>``)."""
        return f"{self.pipeline}/{self.node}"


@runtime_checkable
class Source(Protocol):
    """An incremental, replayable input."""

    node: str

    def initial_state(self) -> Position:
        """State before any batch (e.g. no files seen, offsets per ``starting``)."""
        ...

    def fold(self, state: Position, rng: Position) -> Position:
        """Return the state after ``rng`` was committed (pure)."""
        ...

    def plan(self, state: Position) -> Position | None:
        """Return the next bounded range after ``state``, or None if nothing new (pure)."""
        ...

    def read(self, engine: Engine, rng: Position) -> ReadResult:
        """Read exactly the records of ``rng`` (deterministic for a given range)."""
        ...

    def range_size(self, rng: Position) -> dict[str, int]:
        """Summary of a range for logs/status, e.g. {"files": 3, "bytes": 1024}."""
        ...

    def lag(self, state: Position) -> dict[str, int] | None:
        """How far ``state`` is behind the newest available data, if cheaply known."""
        ...

    def on_commit(self, rng: Position) -> None:
        """Post-commit housekeeping (idempotent; failures are logged, not raised)."""
        ...


@dataclass(frozen=True)
class SinkResult:
    """What a sink reports for the commit entry."""

    rows: int
    skipped: bool
    detail: dict[str, Any]


@runtime_checkable
class Sink(Protocol):
    """An idempotent output keyed by :class:`BatchKey`."""

    node: str

    def already_written(self, key: BatchKey) -> bool:
        """True if the output of ``key`` (or a later batch) is already durably in the sink."""
        ...

    def write(self, engine: Engine, frame: Frame, key: BatchKey) -> SinkResult:
        """Write ``frame`` as batch ``key`` so that the data and the key land atomically."""
        ...
