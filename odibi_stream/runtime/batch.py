"""The micro-batch protocol — every step, in order, in one place.

    1. recover      load snapshot + commits; find a planned-but-uncommitted batch
    2. plan         ask each source for its next bounded range (or replay the pending plan)
    3. write_ahead  durably create offsets/N (create-exclusive, fenced by the lease epoch)
    4. execute      run the DAG on the engine (reads exactly the planned ranges)
    5. sink         idempotent writes keyed by (pipeline, node, N) — inside execute, plus dead letters
    6. commit       durably create commits/N (fenced); only now is the batch done
    7. acknowledge  post-commit source housekeeping (archive files, consumer-group offsets)
    8. retain       compact old log entries into snapshot.json

Exactly-once = replayable sources (2, 4) + write-ahead plan (3) + idempotent sinks (5) +
commit after sinks (6). :func:`run_one_batch` is the only caller of these steps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from odibi_stream.checkpoints.entries import CommitEntry, OffsetsEntry, Snapshot
from odibi_stream.checkpoints.log import PipelineLog
from odibi_stream.connectors.base import BatchKey, Position
from odibi_stream.engines.base import Engine
from odibi_stream.exceptions import CheckpointCorrupt
from odibi_stream.runtime.executor import BatchExecutor, Execution
from odibi_stream.runtime.faults import fault_point
from odibi_stream.runtime.plan import PipelinePlan

log = logging.getLogger("odibi_stream.batch")


@dataclass
class PipelineState:
    """In-memory position of a pipeline after recovery; advanced at each commit.

    Attributes:
        last_committed: Highest committed batch (-1 if none).
        states: Per incremental source, its state after ``last_committed``.
        watermarks: Per watermarked node, the encoded watermark after ``last_committed``.
        pending: A planned batch without a commit, to replay verbatim.
        snapshot_batch: Batch the snapshot covers (-1 if none); bounds the retained log.
        problems: Corrupt entries found (and quarantined) during recovery.
    """

    last_committed: int
    states: dict[str, Position]
    watermarks: dict[str, Any]
    pending: OffsetsEntry | None
    snapshot_batch: int
    problems: list[str]


class Fence(Protocol):
    """Ownership proof checked right before each durable write (implemented by the lease)."""

    epoch: int

    def check(self) -> None:
        """Raise LeaseLost if this process no longer owns the pipeline."""


class NoFence:
    """The fence of a process that owns its checkpoints alone (``odibi-stream run``): epoch 0."""

    epoch = 0

    def check(self) -> None:
        """Never fenced out."""


# ---------------------------------------------------------------------- 1. recover
def fold_states(
    plan: PipelinePlan, snapshot: Snapshot | None, commits: list[CommitEntry], upto: int | None = None
) -> tuple[dict[str, Position], dict[str, Any]]:
    """Source states and watermarks: the snapshot's, advanced by each commit (up to ``upto``)."""
    states: dict[str, Position] = {}
    for name, src in plan.sources.items():
        states[name] = snapshot.states[name] if snapshot and name in snapshot.states else src.initial_state()
    watermarks: dict[str, Any] = dict(snapshot.watermarks) if snapshot else {}
    for commit in commits:
        if upto is not None and commit.batch > upto:
            break
        for name, rng in commit.sources.items():
            if name in plan.sources:
                states[name] = plan.sources[name].fold(states[name], rng)
        watermarks.update(commit.watermarks)
    return states, watermarks


def recover(plan: PipelinePlan, plog: PipelineLog) -> PipelineState:
    """Rebuild source states from the snapshot and every retained commit after it."""
    rec = plog.recover()
    for problem in rec.problems:
        log.error("pipeline %s: checkpoint problem: %s", plan.name, problem)
    states, watermarks = fold_states(plan, rec.snapshot, rec.commits)
    return PipelineState(
        last_committed=rec.last_committed,
        states=states,
        watermarks=watermarks,
        pending=rec.pending,
        snapshot_batch=rec.snapshot.batch if rec.snapshot else -1,
        problems=list(rec.problems),
    )


# ---------------------------------------------------------------------- 2. plan
def plan_batch(plan: PipelinePlan, state: PipelineState, epoch: int, *, force: bool) -> OffsetsEntry | None:
    """The next batch's ranges, or None when no source has new data and nothing forces a run."""
    ranges = {}
    for name, src in plan.sources.items():
        rng = src.plan(state.states[name])
        if rng is not None:
            ranges[name] = rng
    if not ranges and not force:
        return None
    return OffsetsEntry(
        batch=state.last_committed + 1,
        epoch=epoch,
        created=datetime.now(timezone.utc),
        sources=ranges,
        watermarks=dict(state.watermarks),
        config_fingerprint=plan.fingerprint,
        forced=force,
    )


# ---------------------------------------------------------------------- 3. write-ahead
def write_ahead(plog: PipelineLog, entry: OffsetsEntry, fence: Fence) -> None:
    """Durably record the plan before any work; a zombie owner cannot overwrite it."""
    fault_point("before_write_ahead")
    fence.check()
    plog.write_offsets(entry)
    fault_point("after_write_ahead")


# ---------------------------------------------------------------------- 4 + 5. execute and sink
def execute(plan: PipelinePlan, engine: Engine, entry: OffsetsEntry) -> Execution:
    """Run the DAG over exactly the planned ranges; sinks write idempotently inside."""
    execution = BatchExecutor(plan, engine, entry.batch, entry.sources, entry.watermarks).run()
    write_dead_letters(plan, engine, entry.batch, execution)
    return execution


def write_dead_letters(plan: PipelinePlan, engine: Engine, batch: int, execution: Execution) -> None:
    """Land the batch's bad records, keyed like any sink so a replay writes them once."""
    if not execution.dead_letters:
        return
    assert plan.dead_letter is not None
    for node, frames in sorted(execution.dead_letters.items()):
        key = BatchKey(plan.name, node, batch)
        if plan.dead_letter.already_written(key):
            continue
        frame = frames[0] if len(frames) == 1 else engine.union(frames)
        plan.dead_letter.write(engine, frame, key)
    fault_point("after_dead_letter")


# ---------------------------------------------------------------------- 6. commit
def commit(
    plog: PipelineLog, entry: OffsetsEntry, execution: Execution, fence: Fence, metrics: dict[str, float]
) -> CommitEntry:
    """Durably record that every sink holds batch N; fenced so a stale owner cannot commit."""
    fault_point("before_commit")
    fence.check()
    done = CommitEntry(
        batch=entry.batch,
        # The committing owner's epoch: a takeover may replay a batch planned under an older one.
        epoch=fence.epoch,
        committed=datetime.now(timezone.utc),
        sources=entry.sources,
        watermarks=execution.watermarks,
        nodes={name: out.as_dict() for name, out in execution.nodes.items()},
        metrics=metrics,
    )
    plog.write_commit(done)
    fault_point("after_commit")
    return done


def advance(plan: PipelinePlan, state: PipelineState, done: CommitEntry) -> None:
    """Move the in-memory state past a committed batch."""
    for name, rng in done.sources.items():
        if name in plan.sources:
            state.states[name] = plan.sources[name].fold(state.states[name], rng)
    state.watermarks = dict(done.watermarks)
    state.last_committed = done.batch
    state.pending = None


# ---------------------------------------------------------------------- 7. acknowledge
def acknowledge(plan: PipelinePlan, entry: OffsetsEntry) -> None:
    """Post-commit housekeeping; never undoes the commit, failures are only logged."""
    for name, rng in entry.sources.items():
        try:
            plan.sources[name].on_commit(rng)
        except Exception as exc:  # the commit stands; housekeeping is retried next start
            log.warning("pipeline %s node %s: post-commit step failed: %s", plan.name, name, exc)
    fault_point("after_acknowledge")


# ---------------------------------------------------------------------- 8. retain
def retain(plan: PipelinePlan, plog: PipelineLog, state: PipelineState, retain_batches: int) -> None:
    """Compact the log once it holds a tenth more than ``retain_batches`` commits (amortised)."""
    kept = state.last_committed - state.snapshot_batch
    if kept <= retain_batches + max(1, retain_batches // 10):
        return
    fault_point("during_retain")
    plog.compact(retain_batches, _snapshot_at(plan, plog))
    state.snapshot_batch = state.last_committed - retain_batches


def _snapshot_at(plan: PipelinePlan, plog: PipelineLog) -> Callable[[int], Snapshot]:
    def build(batch: int) -> Snapshot:
        rec = plog.recover()
        states, marks = fold_states(plan, rec.snapshot, rec.commits, upto=batch)
        return Snapshot(batch=batch, states=states, watermarks=marks, extra={})

    return build


# ---------------------------------------------------------------------- the whole protocol
@dataclass
class BatchOutcome:
    """A committed batch as the runner reports it."""

    entry: OffsetsEntry
    commit: CommitEntry
    execution: Execution
    replayed: bool
    duration_ms: float
    commit_ms: float


def run_one_batch(
    plan: PipelinePlan,
    engine: Engine,
    plog: PipelineLog,
    state: PipelineState,
    fence: Fence,
    *,
    force: bool = False,
    retain_batches: int = 100,
) -> BatchOutcome | None:
    """Run steps 2-8 for one batch on a recovered ``state``; None when there is nothing to do."""
    t0 = time.perf_counter()
    replayed = state.pending is not None
    entry = state.pending if replayed else plan_batch(plan, state, fence.epoch, force=force)
    if entry is None:
        return None
    if replayed:
        _check_replayable(plan, entry)
    t_plan = time.perf_counter()
    if not replayed:
        write_ahead(plog, entry, fence)
    t_wal = time.perf_counter()
    execution = execute(plan, engine, entry)
    t_exec = time.perf_counter()
    metrics = {
        "plan_ms": (t_plan - t0) * 1000,
        "write_ahead_ms": (t_wal - t_plan) * 1000,
        "execute_ms": (t_exec - t_wal) * 1000,
    }
    done = commit(plog, entry, execution, fence, metrics)
    t_commit = time.perf_counter()
    advance(plan, state, done)
    acknowledge(plan, entry)
    retain(plan, plog, state, retain_batches)
    return BatchOutcome(
        entry=entry,
        commit=done,
        execution=execution,
        replayed=replayed,
        duration_ms=(time.perf_counter() - t0) * 1000,
        commit_ms=(t_wal - t_plan + t_commit - t_exec) * 1000,
    )


def _check_replayable(plan: PipelinePlan, entry: OffsetsEntry) -> None:
    unknown = sorted(set(entry.sources) - set(plan.sources))
    if unknown:
        raise CheckpointCorrupt(
            f"pipeline {plan.name}: pending batch {entry.batch} reads node(s) {unknown} that the "
            "current config no longer has; it cannot be replayed verbatim",
            hint=f"restore the node(s), or `odibi-stream checkpoint skip --pipeline {plan.name}` to drop it",
        )
