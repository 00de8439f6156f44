"""Azure Event Hubs (``format: eventhub``): the source and sink specs — validated, no client.

The live parts are :mod:`~odibi_stream.connectors.eventhub_reader` (the source: exact
sequence-number ranges from receivers kept open across batches),
:mod:`~odibi_stream.connectors.eventhub_writer` (the sink) and
:mod:`~odibi_stream.connectors.eventhub_watch` (the probe of last enqueued sequence numbers
that wakes the pipeline). This module imports no ``azure.eventhub``: a pipeline validates —
and reports a missing ``eventhub`` extra with its install hint — without it. Connection
resolution is :mod:`~odibi_stream.connectors.eventhub_target`, options
:mod:`~odibi_stream.connectors.eventhub_options`.

Source positions (see :mod:`odibi_stream.connectors.base`):
    * range = ``{"partitions": {"<id>": [start, end]}}`` — sequence numbers, end exclusive,
      every known partition listed (empty ones as ``[x, x]``); offsets are opaque strings and
      never used for positions. When events were lost to retention under
      ``on_data_loss: skip_and_report`` the range adds ``"data_loss": {"<id>": {"from": a,
      "to": b}}`` (sequence numbers ``a .. b-1`` are gone) and ``"lost": <total events>``.
    * state = ``{"next": {"<id>": next sequence number}}``; a partition missing from it
      starts at its earliest available event (so partitions added to the hub later miss
      nothing).

Guarantees: a range is read exactly (a read stops at its end; prefetched events past it wait
for the next range, or are dropped when a replay starts elsewhere), so a replayed batch reads
the same events. Receivers attach with an owner level (epoch): a newer reader of the same
consumer group pre-empts an older one, which then fails terminally instead of reading on.
The checkpoint, not a consumer-group checkpoint store, holds the positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import ReadConfig, WriteConfig
from odibi_stream.connectors.eventhub_options import (
    ReadOptions,
    WriteOptions,
    read_options,
    write_options,
)
from odibi_stream.connectors.eventhub_target import EventHubTarget, resolve_target
from odibi_stream.core.extras import require_extra
from odibi_stream.core.wake import PollWatch
from odibi_stream.exceptions import ConfigError

if TYPE_CHECKING:
    from odibi_stream.connectors.eventhub_reader import EventHubSource
    from odibi_stream.connectors.eventhub_watch import EventHubEndsProbe
    from odibi_stream.connectors.eventhub_writer import EventHubSink

EVENTHUB_POLL_SECONDS = 1.0
"""Default poll period of the data trigger (``trigger: {eventhub: {poll_seconds}}``)."""


def _require(node: str) -> None:
    require_extra("azure.eventhub", "eventhub", f"node {node}: format eventhub")


@dataclass(frozen=True)
class EventHubSourceSpec:
    """A validated Event Hubs source (no client yet); opens an :class:`EventHubSource`.

    Args:
        node: Node name.
        pipeline: Pipeline name.
        location: The node's resolved connection (``type: eventhub``).
        read: The node's read config (``format: eventhub``; ``topic`` names the hub).

    Raises (on construction):
        ConfigError: the eventhub extra is missing, the connection, hub or options are invalid,
            or the incremental mode is not ``offsets``.
    """

    node: str
    pipeline: str
    location: Location = field(repr=False)
    read: ReadConfig = field(repr=False)
    target: EventHubTarget = field(init=False)
    options: ReadOptions = field(init=False)
    max_records: int | None = field(init=False)

    def __post_init__(self) -> None:
        _require(self.node)
        inc = self.read.incremental
        if inc is not None and inc.mode != "offsets":
            raise ConfigError(
                f"node {self.node}: an eventhub read is incremental by sequence numbers, not {inc.mode}",
                hint="use incremental: {mode: offsets, max_records_per_batch: N} (or omit incremental)",
            )
        object.__setattr__(
            self, "target", resolve_target(self.node, self.location, self.read.topic)
        )
        object.__setattr__(self, "options", read_options(self.node, self.read.options))
        object.__setattr__(self, "max_records", inc.max_records_per_batch if inc else None)

    def open(self) -> EventHubSource:
        """The reader; it connects on first use and closes every client with ``close()``."""
        from odibi_stream.connectors.eventhub_reader import EventHubSource

        return EventHubSource(self)

    def watch(self) -> PollWatch:
        """Poll the partitions' last enqueued sequence numbers over one kept-open connection."""
        target, group = self.target, self.options.consumer_group

        def open_probe() -> EventHubEndsProbe:
            from odibi_stream.connectors.eventhub_watch import EventHubEndsProbe

            return EventHubEndsProbe(target, group)

        return PollWatch(
            open_probe, name=f"eventhub:{target.hub}", default_interval=EVENTHUB_POLL_SECONDS
        )


@dataclass(frozen=True)
class EventHubSinkSpec:
    """A validated Event Hubs sink (no producer yet); opens an :class:`EventHubSink`.

    Raises (on construction):
        ConfigError: the eventhub extra is missing, or the connection, hub or options are invalid.
    """

    node: str
    pipeline: str
    location: Location = field(repr=False)
    write: WriteConfig = field(repr=False)
    target: EventHubTarget = field(init=False)
    options: WriteOptions = field(init=False)

    def __post_init__(self) -> None:
        _require(self.node)
        if self.write.mode != "append":
            raise ConfigError(
                f"node {self.node}: an eventhub write appends events; mode {self.write.mode} is not supported"
            )
        object.__setattr__(
            self, "target", resolve_target(self.node, self.location, self.write.topic)
        )
        object.__setattr__(self, "options", write_options(self.node, self.write.options))

    def open(self) -> EventHubSink:
        """The writer; its producer connects on first use."""
        from odibi_stream.connectors.eventhub_writer import EventHubSink

        return EventHubSink(self)
