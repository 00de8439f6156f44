"""Operator repairs that need the runtime's knowledge of sources: rewind and reset.

Both keep batch numbers moving forward. Sinks decide idempotency by batch number (a Delta
table that holds ``txn(app, 7)`` skips batches <= 7), so re-planning old input under an old
number would silently write nothing. Instead the log is replaced by a snapshot *at the highest
batch ever planned* whose source states are those after batch ``to`` (rewind) or the initial
ones (reset); the next batch gets a fresh number and every sink writes it.
"""

from __future__ import annotations

from typing import Any

from odibi_stream.checkpoints.entries import Snapshot
from odibi_stream.checkpoints.log import PipelineLog
from odibi_stream.connectors.base import Position
from odibi_stream.exceptions import CheckpointError
from odibi_stream.runtime.batch import fold_states
from odibi_stream.runtime.compile import LivePipeline
from odibi_stream.runtime.retention import expand


def states_after(pipe: LivePipeline, plog: PipelineLog, to: int) -> tuple[dict[str, Position], dict[str, Any]]:
    """Source states and watermarks as of committed batch ``to`` (folded from the log)."""
    rec = plog.recover()
    floor = rec.snapshot.batch if rec.snapshot else -1
    if to < floor:
        raise CheckpointError(
            f"cannot rewind {pipe.name!r} to batch {to}: batches up to {floor} were compacted into the snapshot",
            hint=f"rewind to {floor} or later, or start over with `odibi-stream checkpoint reset`",
        )
    if to > rec.last_committed:
        raise CheckpointError(
            f"cannot rewind {pipe.name!r} to batch {to}: the last committed batch is {rec.last_committed}",
            hint="`odibi-stream checkpoint history` lists the committed batches",
        )
    return fold_states(pipe, expand(pipe, plog, rec.snapshot), rec.commits, upto=to)


def rewind(pipe: LivePipeline, plog: PipelineLog, to: int) -> int:
    """Re-read everything after committed batch ``to``; return the next batch number.

    ``pipe`` is the opened pipeline (its sources fold the committed ranges); the caller owns
    and closes it.
    """
    states, marks = states_after(pipe, plog, to)
    top = plog.highest_batch()
    plog.install_snapshot(Snapshot(batch=top, states=states, watermarks=marks, extra={"rewound_to": to}))
    return top + 1


def reset(plog: PipelineLog) -> int:
    """Start over from every source's initial position; return the next batch number."""
    top = plog.highest_batch()
    if top < 0:
        return 0
    plog.install_snapshot(Snapshot(batch=top, states={}, watermarks={}, extra={"reset": True}))
    return top + 1
