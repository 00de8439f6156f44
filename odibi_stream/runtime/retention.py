"""Step 8, retain: compact old log entries into the snapshot — incrementally when it is large.

Small snapshots are rewritten whole, as before. A snapshot larger than
:data:`~odibi_stream.checkpoints.state_chain.SMALL_SNAPSHOT_BYTES` (a files source's seen set
after many files) becomes a chain (see :mod:`odibi_stream.checkpoints.state_chain`): each
compaction then writes one segment of the compacted batches' ranges and a small pointer, and
rebuilds the base only when the segments outweigh it — so the bytes written per batch do not
grow with history.

Lifecycle: :func:`retain` is called by the protocol after each commit with the in-memory
progress; :func:`expand` is called wherever a snapshot's states are needed (recovery, rewind).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from odibi_stream.checkpoints import state_chain as chains
from odibi_stream.checkpoints.entries import CommitEntry, Segment, Snapshot, encode
from odibi_stream.checkpoints.log import PipelineLog
from odibi_stream.connectors.base import Position
from odibi_stream.runtime.faults import fault_point

if TYPE_CHECKING:
    from odibi_stream.runtime.batch import PipelineProgress
    from odibi_stream.runtime.compile import LivePipeline


def _fold(
    pipe: LivePipeline, states: dict[str, Position], batches: list[tuple[int, dict[str, Position]]]
) -> None:
    for _batch, sources in batches:
        for name, rng in sources.items():
            if name in pipe.sources:
                states[name] = pipe.sources[name].fold(states[name], rng)


def expand(pipe: LivePipeline, plog: PipelineLog, snapshot: Snapshot | None) -> Snapshot | None:
    """An inline snapshot equivalent to ``snapshot`` (a chain is read and folded)."""
    chain = chains.chain_of(snapshot)
    if chain is None or snapshot is None:
        return snapshot
    base, segments = chains.read_chain(plog, chain)
    states = {name: base.states.get(name, src.initial_state()) for name, src in pipe.sources.items()}
    _fold(pipe, states, [(b["batch"], b["sources"]) for seg in segments for b in seg.batches])
    return Snapshot(batch=snapshot.batch, states=states, watermarks=dict(snapshot.watermarks), extra={})


def retain(pipe: LivePipeline, plog: PipelineLog, progress: PipelineProgress, retain_batches: int) -> None:
    """Fold the commits that fall out of the newest ``retain_batches`` into the snapshot.

    Amortised: only once the log holds a tenth more than ``retain_batches`` commits.
    """
    if len(progress.recent) <= retain_batches + max(1, retain_batches // 10):
        return
    fault_point("during_retain")
    out = len(progress.recent) - retain_batches
    folded, kept = progress.recent[:out], progress.recent[out:]
    marks: dict[str, Any] = dict(progress.snapshot.watermarks) if progress.snapshot else {}
    for commit in folded:
        marks.update(commit.watermarks)
    chain = chains.chain_of(progress.snapshot)
    if chain is None:
        snapshot = _inline(pipe, plog, progress.snapshot, folded, marks)
    else:
        snapshot = _extend(pipe, plog, chain, folded, marks)
    fault_point("after_state_chain")  # segment/base written, pointer not yet
    plog.compact(snapshot)
    chains.sweep(plog, chains.chain_of(snapshot))
    progress.snapshot, progress.recent = snapshot, kept


def _inline(
    pipe: LivePipeline, plog: PipelineLog, old: Snapshot | None, folded: list[CommitEntry], marks: dict[str, Any]
) -> Snapshot:
    """The whole state rewritten; if it has grown large, it becomes the base of a chain."""
    states = {name: old.states[name] if old and name in old.states else src.initial_state()
              for name, src in pipe.sources.items()}
    _fold(pipe, states, [(c.batch, c.sources) for c in folded])
    snapshot = Snapshot(batch=folded[-1].batch, states=states, watermarks=marks, extra={})
    size = len(encode(snapshot))
    if size <= chains.inline_limit():
        return snapshot
    chains.write_base(plog, snapshot)
    return chains.pointer(snapshot.batch, marks, chains.Chain(snapshot.batch, size))


def _extend(
    pipe: LivePipeline, plog: PipelineLog, chain: chains.Chain, folded: list[CommitEntry], marks: dict[str, Any]
) -> Snapshot:
    """One more segment; the base rebuilt when the segments outweigh it."""
    first, last = folded[0].batch, folded[-1].batch
    segment = Segment(first=first, last=last, batches=[{"batch": c.batch, "sources": c.sources} for c in folded],
                      watermarks=marks)
    size = chains.write_segment(plog, segment)
    grown = chains.Chain(chain.base, chain.base_bytes, (*chain.segments, (first, last, size)))
    if grown.segment_bytes <= grown.base_bytes:
        return chains.pointer(last, marks, grown)
    full = expand(pipe, plog, chains.pointer(last, marks, grown))
    assert full is not None
    base_bytes = chains.write_base(plog, full)
    return chains.pointer(last, marks, chains.Chain(last, base_bytes))
