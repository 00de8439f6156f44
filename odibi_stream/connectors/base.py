"""Source and Sink protocols: specs (configuration) that open readers and writers (live clients).

A **spec** is what a pipeline's config compiles to: validated settings, cheap to build, holding
no connection, thread or file handle. ``validate`` builds every spec of a project without
touching any external system. A spec **opens** the live object — a :class:`Source` reader or a
:class:`Sink` writer — which owns its clients until ``close()``.

Positions are JSON-serialisable dicts, opaque to the runtime, persisted in the checkpoint:

* a **range** describes one batch's input (written to ``offsets/N`` before any work and
  replayed verbatim after a crash);
* a **state** is a source's position after all committed batches (what ``plan`` continues
  from). ``fold(state, range)`` advances a state past a committed range; states are kept in the
  checkpoint snapshot when old log entries are compacted away.

Lifecycle contract (who calls what, when):
    1. The runtime compiles a pipeline into specs (``connectors.factory``), once per (re)load.
    2. The pipeline runner opens every spec when it loads the pipeline and closes every opened
       source and sink when it unloads it (reload, lease loss, shutdown) — exactly once, even
       after failures. ``close`` is idempotent and releases every client the object created.
    3. On recovery the runtime rebuilds each source's state: ``initial_state()`` or the
       snapshot's state, then ``fold`` for every committed batch after the snapshot.
    4. To plan batch N it calls ``plan(state)``; ``None`` means "no new data". ``plan`` must be
       side-effect free and bounded by the source's rate limits.
    5. It writes the range into ``offsets/N`` and only then calls ``read(engine, range)``, which
       must return exactly the same records for the same range, every time.
    6. After ``commits/N`` is durable it calls ``on_commit(range)`` (archive/delete files,
       acknowledge consumer-group offsets). Failures there are logged, never undo the commit,
       and the call must tolerate being repeated after a crash.
    7. Sinks: ``write(engine, frame, key)`` is idempotent on its own — it checks, once and
       atomically with the write, whether batch ``key`` (or a later one) already landed, and
       then writes the data together with its idempotency marker (Delta txn action,
       deterministic file names, Kafka batch headers). ``already_written`` answers the same
       question without writing (dead letters, operators, tests).

Wake-ups: a spec's ``watch()`` says what wakes its pipeline (a folder to watch, or a cheap
probe of the source's end positions to poll); triggers are built from it, so a new connector
plugs in without any change to the managers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from odibi_stream.core.wake import Watch
from odibi_stream.engines.base import Engine, Frame, ReadResult

Position = dict[str, Any]


@dataclass(frozen=True)
class BatchKey:
    """Identity of one node's output for one batch: the idempotency key of sinks.

    ``planned`` (when the batch was planned, from its write-ahead entry) is not part of the
    identity: a replay has the same one, so time-valued outputs (audit columns) replay equal.
    """

    pipeline: str
    node: str
    batch: int
    planned: datetime | None = field(default=None, compare=False)

    @property
    def app_id(self) -> str:
        """Delta transaction application id (``<pipeline>/<node>``)."""
        return f"{self.pipeline}/{self.node}"


@runtime_checkable
class Source(Protocol):
    """An opened incremental, replayable input (see the module's lifecycle contract)."""

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

    def close(self) -> None:
        """Release every client this source opened (idempotent)."""
        ...


@runtime_checkable
class SourceSpec(Protocol):
    """A validated source configuration; opens a :class:`Source`."""

    @property
    def node(self) -> str:
        """The read node's name."""
        ...

    def open(self) -> Source:
        """Open the reader; the caller owns it and must ``close()`` it."""
        ...

    def watch(self) -> Watch | None:
        """What wakes this source's pipeline (None: only schedules/forced runs do)."""
        ...


@dataclass(frozen=True)
class SinkResult:
    """What a sink reports for the commit entry."""

    rows: int
    skipped: bool
    detail: dict[str, Any]


@runtime_checkable
class Sink(Protocol):
    """An opened idempotent output keyed by :class:`BatchKey`."""

    node: str

    def already_written(self, key: BatchKey) -> bool:
        """True if the output of ``key`` (or a later batch) is already durably in the sink."""
        ...

    def write(self, engine: Engine, frame: Frame, key: BatchKey) -> SinkResult:
        """Write ``frame`` as batch ``key`` unless it landed already (then ``skipped``)."""
        ...

    def close(self) -> None:
        """Flush and release every client this sink opened (idempotent)."""
        ...


@runtime_checkable
class SinkSpec(Protocol):
    """A validated sink configuration; opens a :class:`Sink`."""

    @property
    def node(self) -> str:
        """The write node's name."""
        ...

    def open(self) -> Sink:
        """Open the writer; the caller owns it and must ``close()`` it."""
        ...


class NoClients:
    """Mixin for readers/writers that hold no client between calls: nothing to close."""

    def close(self) -> None:
        """Nothing to release."""
