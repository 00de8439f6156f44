"""Delta Lake: the idempotent Delta sink and the high-water-mark column source.

Sink (``write: {format: delta}``; append, overwrite, merge): every commit carries the Delta
transaction ``(app_id = "<pipeline>/<node>", version = N)``. delta-rs accepts an *older*
version silently, so the ``>= N`` comparison is ours: :func:`write_delta_idempotent` checks the
table's transaction version once, under the table's lock (``clients.delta``), and writes in the
same block, so no other thread of this process can slip a write in between. Dead letters in
Delta use the same function.

Column source (``incremental: {mode: column}`` over a Delta table or a Parquet folder): see
:mod:`odibi_stream.connectors.column_source`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deltalake.exceptions import DeltaError, TableNotFoundError

from odibi_stream.clients.delta import delta_table
from odibi_stream.clients.locations import Location
from odibi_stream.config.models import WriteConfig
from odibi_stream.config.semantics import MergeConfig
from odibi_stream.connectors.base import BatchKey, NoClients, SinkResult
from odibi_stream.connectors.delta_schema import conform
from odibi_stream.connectors.storage_errors import azure_storage
from odibi_stream.engines.base import Engine, Frame, SupportsDelta
from odibi_stream.engines.merge import merge_delta
from odibi_stream.engines.merge_sql import MergeSpec
from odibi_stream.exceptions import ConfigError, EngineError, SinkError


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


def delta_engine(engine: Engine) -> SupportsDelta:
    """``engine`` as a Delta-capable engine, or a terminal error naming it."""
    if not isinstance(engine, SupportsDelta):
        raise EngineError(
            f"the {engine.name} engine cannot read or write Delta tables",
            hint="use engine: pandas or engine: spark for Delta",
        )
    return engine


def write_delta_idempotent(
    engine: Engine,
    frame: Frame,
    uri: str,
    write: WriteConfig | None,
    options: dict[str, str],
    key: BatchKey,
    app_id: str | None = None,
) -> SinkResult:
    """Write ``frame`` as batch ``key.batch`` of ``app_id`` unless the table already holds it.

    The transaction check and the write happen in one ``delta_table`` block (one lock; the
    pandas engine's write reuses the open, current table). Inside it the sink's schema policy
    is applied (:mod:`~odibi_stream.connectors.delta_schema`) and a ``merge:`` write goes
    through :func:`~odibi_stream.engines.merge.merge_delta` — always with the transaction in
    the data's own commit.
    """
    app = app_id or key.app_id
    writer = delta_engine(engine)
    detail: dict[str, Any] = {"app_id": app}
    with delta_table(uri, options) as table:
        done = delta_txn_version(uri, options, app)
        if done is not None and done >= key.batch:
            return SinkResult(rows=0, skipped=True, detail={"app_id": app, "txn_version": done})
        given = frame
        merge = write.merge_config() if write else None
        if write is not None:
            frame, change = conform(
                engine, frame, table, write.schema_.evolution if write.schema_ else "add_columns",
                node=key.node, uri=uri, ignore=[merge.deletes.column] if merge and merge.deletes else [],
            )
            if change.as_dict():
                detail["schema_change"] = change.as_dict()
        if write is not None and merge is not None:
            version, counts = merge_delta(engine, frame, uri, merge_spec(merge, write, key), options, (app, key.batch))
            detail["merge"] = counts
        else:
            version = writer.write_delta(
                frame,
                uri,
                mode=write.mode if write else "append",
                partition_by=write.partition_by if write else (),
                storage_options=options,
                txn=(app, key.batch),
            )
        # Counted after the write: an engine with deferred counts learns it from the write's job.
        rows = engine.count(given)
    return SinkResult(rows=rows, skipped=False, detail={"version": version, **detail})


def merge_spec(merge: MergeConfig, write: WriteConfig, key: BatchKey) -> MergeSpec:
    """The engine-level merge of batch ``key`` from the sink's config."""
    deletes = merge.deletes
    return MergeSpec(
        keys=tuple(merge.keys),
        strategy=merge.strategy,
        sequence_by=merge.sequence_by,
        delete_column=deletes.column if deletes else None,
        delete_value=deletes.value if deletes else None,
        soft_delete=bool(deletes and deletes.mode == "soft"),
        audit=merge.audit_columns,
        batch=key.batch,
        time=key.planned,
        partition_by=tuple(write.partition_by),
    )


@dataclass(frozen=True)
class DeltaSinkSpec:
    """A validated Delta sink; opens a :class:`DeltaSink`.

    Raises (on construction):
        ConfigError: not ``format: delta`` or no path.
    """

    node: str
    location: Location
    write: WriteConfig

    def __post_init__(self) -> None:
        if self.write.format != "delta" or not self.write.path:
            raise ConfigError(f"node {self.node}: a Delta sink needs format: delta and a path")

    def open(self) -> DeltaSink:
        """A writer to the table (tables are opened per call through the shared cache)."""
        return DeltaSink(self)


class DeltaSink(NoClients):
    """Sink protocol implementation for Delta tables (append, overwrite, merge strategies)."""

    def __init__(self, spec: DeltaSinkSpec) -> None:
        self.node = spec.node
        self._location = spec.location
        self._uri = spec.location.uri
        self._options = dict(spec.location.storage_options)
        self._write = spec.write

    def already_written(self, key: BatchKey) -> bool:
        """True if the table's transaction for ``key.app_id`` is at ``key.batch`` or later."""
        with azure_storage(self._location, "reading", SinkError):
            done = delta_txn_version(self._uri, self._options, key.app_id)
        return done is not None and done >= key.batch

    def write(self, engine: Engine, frame: Frame, key: BatchKey) -> SinkResult:
        """Write the batch with its transaction marker in the same commit; skip if present."""
        with azure_storage(self._location, "writing", SinkError):
            return write_delta_idempotent(engine, frame, self._uri, self._write, self._options, key)
