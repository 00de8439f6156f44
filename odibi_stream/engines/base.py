"""The Engine protocol: what executes nodes.

Lifecycle contract:
    * The runtime creates one engine per process (``get_engine(name)``) and calls
      :meth:`Engine.close` on shutdown.
    * Within a batch, the runtime's executor calls read/sql/apply/split/write methods from
      possibly several threads at once (independent nodes run in parallel). Implementations must
      therefore keep no per-call mutable state on ``self``; e.g. the pandas engine opens a DuckDB
      connection per SQL call and never shares it across threads.
    * Frames are opaque to the runtime: only the engine that produced a frame may consume it.
      ``to_arrow``/``from_arrow`` cross the boundary when a connector needs raw data.

Engine-native I/O beyond files is offered through optional capability protocols —
:class:`SupportsDelta` (Delta Lake reads and transactional writes) and
:class:`SupportsKafkaRead` (exact offset-range reads) — that connectors check with
``isinstance`` instead of probing attributes. :class:`SupportsDeferredCounts` lets the executor
learn a batch's counts and bad records from the jobs that write it (see that class).

Engines know nothing of checkpoints, triggers or the runtime (dependency direction).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import pyarrow as pa
from pydantic import BaseModel

Frame = Any
"""An engine's dataframe (``pyarrow.Table`` for pandas, ``pyspark.sql.DataFrame`` for Spark)."""

OptionsArg = BaseModel | Mapping[str, Any] | None
"""File options as engines accept them: the format's options model (``read.options`` of a loaded
config), a mapping validated against that model, or None for its defaults
(:func:`odibi_stream.config.options.file_read_options`)."""


@dataclass(frozen=True)
class Reject:
    """A record that could not be used, with why and where from.

    Attributes:
        record: The raw record (a text line, a JSON object as text, a CSV row as text).
        error: Why it was rejected (parse error, failed check, late).
        source: Where it came from (file path, ``topic/partition/offset``).
    """

    record: str
    error: str
    source: str


@dataclass
class ReadResult:
    """What a read returns: the good rows and the records that failed to parse."""

    frame: Frame
    rejects: list[Reject] = field(default_factory=list)
    rows: int | None = None
    """The frame's row count when the reader learnt it anyway (spares the engine a count)."""
    pending: Callable[[], tuple[int, list[Reject]]] | None = None
    """Set by a deferred read (see :data:`DEFER_ACCOUNTING`): ``rejects`` is then empty until
    this is called, once, after the batch's writes; it returns (the frame's rows, the rejects).
    It runs a job of its own when no write ran the frame (e.g. a replay that skipped a sink)."""


Deferral = Literal["collect", "fail"]
"""How a deferred read treats bad records: ``collect`` them after the writes (as rejects), or
``fail`` the job that first runs the frame (the node's ``on_error: fail``)."""

DEFER_ACCOUNTING: ContextVar[Deferral | None] = ContextVar("odibi_defer_accounting", default=None)
"""Set by the batch executor around a read whose counts and rejects may be learnt after the
batch's writes: an engine implementing :class:`SupportsDeferredCounts` then reads files lazily
and returns a :attr:`ReadResult.pending`. None (the default) means an eager read."""


@contextmanager
def eager_reads() -> Iterator[None]:
    """Reads in the block are eager whatever the executor asked: for input that does not
    outlive the block (e.g. local copies of remote files, deleted when it ends)."""
    token = DEFER_ACCOUNTING.set(None)
    try:
        yield
    finally:
        DEFER_ACCOUNTING.reset(token)


@runtime_checkable
class Engine(Protocol):
    """Executes reads, SQL, Python transforms and writes on one dataframe technology."""

    name: str

    # -- reading ---------------------------------------------------------------------------
    def read_files(
        self,
        paths: Sequence[str],
        fmt: str,
        options: OptionsArg = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> ReadResult:
        """Read files of one format into one frame; unparsable records become rejects.

        A file that cannot be parsed at all (not merely a bad record) raises ``RecordError``.
        An empty ``paths`` returns an empty frame (with the declared ``schema`` columns).
        Invalid ``options`` raise ``ConfigError``.
        """
        ...

    def read_table(
        self,
        uri: str,
        fmt: str,
        storage_options: Mapping[str, str] | None = None,
        where: str | None = None,
        options: OptionsArg = None,
    ) -> Frame:
        """Read a whole Parquet/CSV/JSON folder or Delta table (static reads), optionally filtered.

        ``options`` are the format's read options (file formats; ignored for delta).
        """
        ...

    def from_arrow(self, table: pa.Table) -> Frame:
        """Wrap an Arrow table as a frame of this engine."""
        ...

    def to_arrow(self, frame: Frame) -> pa.Table:
        """Materialise a frame as an Arrow table (for connectors that need raw rows)."""
        ...

    # -- transforming ----------------------------------------------------------------------
    def sql(self, query: str, tables: Mapping[str, Frame]) -> Frame:
        """Run ``query`` with each frame in ``tables`` visible as a table of that name."""
        ...

    def apply(
        self, fn: Callable[..., Any], inputs: Mapping[str, Frame], params: Mapping[str, Any]
    ) -> Frame:
        """Call a user function. Single input: ``fn(df, **params)``; several: ``fn(inputs_dict, **params)``."""
        ...

    def split(self, frame: Frame, predicate: str) -> tuple[Frame, Frame]:
        """Return (rows where the SQL ``predicate`` is TRUE, all other rows incl. NULL results)."""
        ...

    def union(self, frames: Sequence[Frame]) -> Frame:
        """Concatenate frames with compatible schemas (missing columns become null)."""
        ...

    def with_columns(self, frame: Frame, values: Mapping[str, Any]) -> Frame:
        """Return ``frame`` with constant columns added (used for metadata columns)."""
        ...

    # -- inspecting ------------------------------------------------------------------------
    def count(self, frame: Frame) -> int:
        """Number of rows."""
        ...

    def max_value(self, frame: Frame, column: str) -> Any:
        """Max of ``column`` as a Python value (timezone-aware datetime for timestamps), None if empty."""
        ...

    def schema(self, frame: Frame) -> dict[str, str]:
        """Column name → type name."""
        ...

    def columns(self, frame: Frame) -> list[str]:
        """Column names in order."""
        ...

    def to_json_records(self, frame: Frame) -> list[str]:
        """Each row as a compact JSON object text (dead letters keep the original record)."""
        ...

    # -- writing ---------------------------------------------------------------------------
    def write_file(
        self,
        frame: Frame,
        path: str,
        fmt: str,
        options: OptionsArg = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> None:
        """Write one file of ``fmt`` at ``path`` (the caller handles temp name + rename)."""
        ...

    def close(self) -> None:
        """Release resources (sessions, connections). Called once at shutdown."""
        ...


@runtime_checkable
class SupportsDelta(Protocol):
    """Capability: the engine reads Delta tables and writes them with a transaction marker."""

    def read_delta(
        self,
        uri: str,
        storage_options: Mapping[str, str] | None = None,
        where: str | None = None,
    ) -> Frame:
        """Read the current version of a Delta table, optionally filtered by a SQL predicate."""
        ...

    def write_delta(
        self,
        frame: Frame,
        uri: str,
        *,
        mode: str,
        merge_keys: Sequence[str] = (),
        partition_by: Sequence[str] = (),
        storage_options: Mapping[str, str] | None = None,
        txn: tuple[str, int] | None = None,
    ) -> int:
        """Write to a Delta table (append, overwrite or merge-upsert); return the new table version.

        ``txn`` = (app_id, version) is recorded in the same commit, so the write and its
        idempotency marker land atomically. The caller checks for an existing marker first.
        """
        ...


@runtime_checkable
class SupportsKafkaRead(Protocol):
    """Capability: the engine reads exact Kafka offset ranges with its own client (Spark)."""

    def read_kafka(self, bootstrap_options: Mapping[str, Any], ranges: Mapping[str, Sequence[int]]) -> Frame:
        """Read ``"topic:partition" -> [start, end)`` ranges; Spark's Kafka columns."""
        ...


@runtime_checkable
class SupportsDeltaMaintenance(Protocol):
    """Capability: the engine maintains Delta tables with its own Delta stack (Spark).

    Called between batches of the pipeline owning the table (never concurrently with its
    writes). Each method returns ``files_before``, ``files_after``, ``version`` and what it did
    (``files_added``/``files_removed``, ``files_deleted``). Engines without it are maintained
    with delta-rs (``connectors.delta_maintenance``).
    """

    def optimize_delta(self, uri: str, storage_options: Mapping[str, str], target_file_size: int) -> dict[str, Any]:
        """Compact small files towards ``target_file_size`` bytes."""
        ...

    def vacuum_delta(self, uri: str, storage_options: Mapping[str, str], retain_hours: float) -> dict[str, Any]:
        """Delete files no version younger than ``retain_hours`` references."""
        ...

    def checkpoint_delta(self, uri: str, storage_options: Mapping[str, str]) -> dict[str, Any]:
        """Write a log checkpoint at the current version."""
        ...


@runtime_checkable
class SupportsDeferredCounts(Protocol):
    """Capability: counting a frame costs a pass over its input, so counts may come afterwards.

    On Spark, knowing a batch's rows and bad records before its writes means materialising the
    read (a pass over the files and a copy of the rows) and counting each frame (a job each).
    A file batch's input cannot change while the batch runs, so the batch executor may instead
    run the writes first, with the frames observed, and learn the numbers from those jobs. The
    executor does so only for pipelines where nothing decides on a count before a write
    (:mod:`odibi_stream.runtime.deferred`).

    Lifecycle: within one batch attempt the executor reads with :data:`DEFER_ACCOUNTING` set,
    transforms, calls :meth:`observe_rows` on each frame it writes and writes the returned
    frame, then calls each returned getter and each :attr:`ReadResult.pending` once.
    """

    def observe_rows(self, frame: Frame) -> tuple[Frame, Callable[[], int]]:
        """Return the frame to write instead of ``frame``, and a getter of ``frame``'s row count.

        The getter is exact once an action ran the returned frame; otherwise it runs one. It
        also makes later :meth:`Engine.count` calls on ``frame`` free.
        """
        ...
