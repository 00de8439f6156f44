"""Incremental snapshots: a large compacted state kept as a base plus appended segments.

A pipeline's compacted state (``snapshot.json``) is rewritten at every compaction. For most
pipelines it is small (offsets, a high-water mark) and that is the simplest thing. A files
source that keeps every processed file's identity has a state growing with history; rewriting
it every few batches makes each batch cost O(history) bytes. So once a snapshot outgrows
:data:`SMALL_SNAPSHOT_BYTES` it becomes a *chain*::

    <pipeline>/state/base-<B>.json          a Snapshot (inline states) as of batch B
    <pipeline>/state/segment-<a>-<b>.json   the committed ranges of batches a..b (a Segment)
    <pipeline>/snapshot.json                version 2, batch S, no states,
                                            extra.chain = {base, base_bytes, segments}

Each compaction writes one segment (the compacted batches' ranges: bytes independent of
history) and the small pointer; when the segments together outweigh the base, the base is
rebuilt once (amortised: O(batch) bytes per batch). The pointer is written last (atomically),
so a crash leaves either the old or the new chain readable; files no pointer references are
swept at the next compaction.

Lifecycle: the runtime's retention step (``runtime.retention``) writes chains; recovery and
rewind expand them (:func:`read_chain`). Nothing here knows a source's state format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from odibi_stream.checkpoints.entries import Segment, Snapshot, decode, encode
from odibi_stream.checkpoints.log import PipelineLog
from odibi_stream.exceptions import CheckpointCorrupt

SMALL_SNAPSHOT_BYTES = 16 * 1024
"""A snapshot up to this size is rewritten whole at each compaction (no chain)."""
_LIMIT_ENV = "ODIBI_SNAPSHOT_INLINE_BYTES"


def inline_limit() -> int:
    """:data:`SMALL_SNAPSHOT_BYTES`, or ``$ODIBI_SNAPSHOT_INLINE_BYTES`` (tuning; the chaos
    suite sets it low so that chains are part of every killed run)."""
    raw = os.environ.get(_LIMIT_ENV, "")
    return int(raw) if raw.isdigit() else SMALL_SNAPSHOT_BYTES


@dataclass(frozen=True)
class Chain:
    """What a chained snapshot points at (``snapshot.extra["chain"]``).

    Attributes:
        base: Batch of the base state file.
        base_bytes: Its size.
        segments: ``[first, last, bytes]`` of each segment, ascending.
    """

    base: int
    base_bytes: int
    segments: tuple[tuple[int, int, int], ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The ``extra["chain"]`` value."""
        return {"base": self.base, "base_bytes": self.base_bytes, "segments": [list(s) for s in self.segments]}

    @property
    def segment_bytes(self) -> int:
        """Total size of the segments."""
        return sum(s[2] for s in self.segments)


def chain_of(snapshot: Snapshot | None) -> Chain | None:
    """The chain a snapshot points at; None for an inline snapshot (or none)."""
    if snapshot is None or "chain" not in snapshot.extra:
        return None
    raw = snapshot.extra["chain"]
    try:
        segs = tuple((int(a), int(b), int(n)) for a, b, n in raw["segments"])
        return Chain(int(raw["base"]), int(raw["base_bytes"]), segs)
    except (KeyError, TypeError, ValueError):
        raise CheckpointCorrupt(f"snapshot of batch {snapshot.batch} has an unreadable chain") from None


def _base_key(plog: PipelineLog, batch: int) -> str:
    return f"{plog.pipeline}/state/base-{batch}.json"


def _segment_key(plog: PipelineLog, first: int, last: int) -> str:
    return f"{plog.pipeline}/state/segment-{first}-{last}.json"


def write_base(plog: PipelineLog, snapshot: Snapshot) -> int:
    """Write an inline snapshot as the base of a chain; returns its size in bytes."""
    data = encode(snapshot)
    plog.store.replace(_base_key(plog, snapshot.batch), data)
    return len(data)


def write_segment(plog: PipelineLog, segment: Segment) -> int:
    """Write one segment; returns its size in bytes."""
    data = encode(segment)
    plog.store.replace(_segment_key(plog, segment.first, segment.last), data)
    return len(data)


def read_chain(plog: PipelineLog, chain: Chain) -> tuple[Snapshot, list[Segment]]:
    """The base and the segments a chain points at.

    Raises:
        CheckpointCorrupt: a file is missing or unreadable (the hint names ``rewind``).
    """
    base = _read(plog, _base_key(plog, chain.base), Snapshot)
    segments = [_read(plog, _segment_key(plog, a, b), Segment) for a, b, _ in chain.segments]
    return base, segments


def _read(plog: PipelineLog, key: str, cls: type[Any]) -> Any:
    data = plog.store.read(key)
    if data is None:
        raise CheckpointCorrupt(
            f"checkpoint state file {key} is missing (the snapshot points at it)",
            hint="restore it, or `odibi-stream checkpoint reset` and reprocess",
        )
    return decode(data, cls, key)


def pointer(batch: int, watermarks: dict[str, Any], chain: Chain) -> Snapshot:
    """The small ``snapshot.json`` of a chain as of ``batch``."""
    return Snapshot(batch=batch, states={}, watermarks=watermarks, extra={"chain": chain.as_json()})


def sweep(plog: PipelineLog, chain: Chain | None) -> int:
    """Delete state files ``chain`` does not reference (all of them for None); returns how many."""
    keep = set()
    if chain is not None:
        keep.add(_base_key(plog, chain.base))
        keep.update(_segment_key(plog, a, b) for a, b, _ in chain.segments)
    removed = 0
    for key in plog.store.list(f"{plog.pipeline}/state"):
        if key not in keep:
            plog.store.delete(key)
            removed += 1
    return removed
