"""The micro-batch protocol — every step, in order, in one place.

    1. recover      load snapshot + commits; find a planned-but-uncommitted batch
    2. plan         ask each source for its next bounded range (or replay the pending plan)
    3. write_ahead  durably create offsets/N (create-exclusive, fenced by the lease epoch)
    4. execute      run the DAG on the engine (reads exactly the planned ranges)
    5. sink         idempotent writes keyed by (pipeline, node, N) — inside execute, plus dead letters
    6. commit       durably create commits/N (fenced); only now is the batch done
    7. acknowledge  post-commit source housekeeping (archive files, consumer-group offsets)
    8. retain       compact old log entries into snapshot.json
    9. maintain     (when configured) Delta table maintenance between batches, under the lease

Exactly-once = replayable sources (2, 4) + write-ahead plan (3) + idempotent sinks (5) +
commit after sinks (6). :func:`run_one_batch` is the only caller of these steps; each runs
inside the step reporter, so a failure is one ``BatchFailed(pipeline, batch, step, node)``.

Words: the *batch plan* is the ``OffsetsEntry`` written ahead; :class:`PipelineProgress` is the
in-memory position of a pipeline (states, watermarks, and the committed ranges since the
snapshot, so retention never re-reads the log).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from odibi_stream.checkpoints.entries import CommitEntry, OffsetsEntry, Snapshot
from odibi_stream.checkpoints.log import PipelineLog
from odibi_stream.connectors.base import BatchKey, Position
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.engines.base import Engine
from odibi_stream.exceptions import CheckpointCorrupt
from odibi_stream.runtime import retention
from odibi_stream.runtime.compile import CompiledPipeline, LivePipeline
from odibi_stream.runtime.executor import BatchExecutor
from odibi_stream.runtime.faults import fault_point
from odibi_stream.runtime.outcome import Execution
from odibi_stream.runtime.report import BatchReport, build_report
from odibi_stream.runtime.steps import Step, StepReporter

log = logging.getLogger("odibi_stream.batch")


@dataclass
class PipelineProgress:
    """In-memory position of a pipeline after recovery; advanced at each commit.

    Attributes:
        last_committed: Highest committed batch (-1 if none).
        states: Per incremental source, its state after ``last_committed``.
        watermarks: Per watermarked node, the encoded watermark after ``last_committed``.
        pending: A planned batch without a commit, to replay verbatim.
        snapshot: The compacted state the log's floor holds (None before the first compaction).
        recent: Commits after the snapshot, oldest first (what retention folds into it).
        problems: Corrupt entries found (and quarantined) during recovery.
    """

    last_committed: int
    states: dict[str, Position]
    watermarks: dict[str, Any]
    pending: OffsetsEntry | None
    snapshot: Snapshot | None
    recent: list[CommitEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def snapshot_batch(self) -> int:
        """The batch the snapshot covers (-1 if none)."""
        return self.snapshot.batch if self.snapshot else -1


class Fence(Protocol):
    """Ownership proof checked right before each durable write (implemented by the lease)."""

    epoch: int

    def check(self) -> None:
        """Raise LeaseLost if this process no longer owns the pipeline."""


class NoFence:
    """The fence of a process that owns its checkpoints alone (tests, embedding): epoch 0."""

    epoch = 0

    def check(self) -> None:
        """Never fenced out."""


class Maintainer(Protocol):
    """Step 9: table maintenance between batches (``runtime.maintenance.DeltaMaintainer``)."""

    def after_commit(self, done: CommitEntry, engine: Engine, fence: Fence) -> list[dict[str, Any]]:
        """Run what is due after ``done``; never raises (failures are reported in the result)."""
        ...


# ---------------------------------------------------------------------- 1. recover
def fold_states(
    pipe: LivePipeline, snapshot: Snapshot | None, commits: list[CommitEntry], upto: int | None = None
) -> tuple[dict[str, Position], dict[str, Any]]:
    """Source states and watermarks: the snapshot's, advanced by each commit (up to ``upto``)."""
    states: dict[str, Position] = {}
    for name, src in pipe.sources.items():
        states[name] = snapshot.states[name] if snapshot and name in snapshot.states else src.initial_state()
    watermarks: dict[str, Any] = dict(snapshot.watermarks) if snapshot else {}
    for commit in commits:
        if upto is not None and commit.batch > upto:
            break
        for name, rng in commit.sources.items():
            if name in pipe.sources:
                states[name] = pipe.sources[name].fold(states[name], rng)
        watermarks.update(commit.watermarks)
    return states, watermarks


def recover(pipe: LivePipeline, plog: PipelineLog) -> PipelineProgress:
    """Rebuild source states from the snapshot and every retained commit after it."""
    rec = plog.recover()
    for problem in rec.problems:
        log.error("pipeline %s: checkpoint problem: %s", pipe.name, problem)
    states, watermarks = fold_states(pipe, retention.expand(pipe, plog, rec.snapshot), rec.commits)
    return PipelineProgress(
        last_committed=rec.last_committed,
        states=states,
        watermarks=watermarks,
        pending=rec.pending,
        snapshot=rec.snapshot,
        recent=list(rec.commits),
        problems=list(rec.problems),
    )


# ---------------------------------------------------------------------- 2. plan
def plan_batch(
    pipe: LivePipeline, progress: PipelineProgress, epoch: int, *, force: bool, clock: Clock = SYSTEM_CLOCK
) -> OffsetsEntry | None:
    """The next batch plan, or None when no source has new data and nothing forces a run."""
    ranges = {}
    for name, src in pipe.sources.items():
        rng = src.plan(progress.states[name])
        if rng is not None:
            ranges[name] = rng
    if not ranges and not force:
        return None
    return OffsetsEntry(
        batch=progress.last_committed + 1,
        epoch=epoch,
        created=clock.now(),
        sources=ranges,
        watermarks=dict(progress.watermarks),
        config_fingerprint=pipe.compiled.fingerprint,
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
def execute(pipe: LivePipeline, engine: Engine, entry: OffsetsEntry) -> Execution:
    """Run the DAG over exactly the planned ranges; sinks write idempotently inside."""
    return BatchExecutor(pipe, engine, entry.batch, entry.sources, entry.watermarks, entry.created).run()


def write_dead_letters(pipe: LivePipeline, engine: Engine, batch: int, execution: Execution) -> None:
    """Land the batch's bad records, keyed like any sink so a replay writes them once."""
    if not execution.dead_letters:
        return
    assert pipe.dead_letter is not None
    for node, frames in sorted(execution.dead_letters.items()):
        frame = frames[0] if len(frames) == 1 else engine.union(frames)
        pipe.dead_letter.write(engine, frame, BatchKey(pipe.name, node, batch))
    fault_point("after_dead_letter")


# ---------------------------------------------------------------------- 6. commit
def commit(
    plog: PipelineLog,
    entry: OffsetsEntry,
    execution: Execution,
    fence: Fence,
    metrics: dict[str, float],
    clock: Clock = SYSTEM_CLOCK,
) -> CommitEntry:
    """Durably record that every sink holds batch N; fenced so a stale owner cannot commit."""
    fault_point("before_commit")
    fence.check()
    done = CommitEntry(
        batch=entry.batch,
        # The committing owner's epoch: a takeover may replay a batch planned under an older one.
        epoch=fence.epoch,
        committed=clock.now(),
        sources=entry.sources,
        watermarks=execution.watermarks,
        nodes={name: out.as_dict() for name, out in execution.nodes.items()},
        metrics=metrics,
    )
    plog.write_commit(done)
    fault_point("after_commit")
    return done


def advance(pipe: LivePipeline, progress: PipelineProgress, done: CommitEntry) -> None:
    """Move the in-memory progress past a committed batch."""
    for name, rng in done.sources.items():
        if name in pipe.sources:
            progress.states[name] = pipe.sources[name].fold(progress.states[name], rng)
    progress.watermarks = dict(done.watermarks)
    progress.last_committed = done.batch
    progress.pending = None
    progress.recent.append(done)


# ---------------------------------------------------------------------- 7. acknowledge
def acknowledge(pipe: LivePipeline, entry: OffsetsEntry) -> None:
    """Post-commit housekeeping; never undoes the commit, failures are only logged."""
    housekeep(pipe, entry.sources)
    fault_point("after_acknowledge")


def housekeep(pipe: LivePipeline, ranges: dict[str, Position]) -> None:
    """``on_commit`` of committed ranges. Also called once when a runner recovers, for the
    last commit: a crash between a commit and its housekeeping must not leave it undone."""
    for name, rng in ranges.items():
        if name not in pipe.sources:
            continue  # a node removed from the config since
        try:
            pipe.sources[name].on_commit(rng)
        except Exception as exc:  # the commit stands; housekeeping is retried next start
            log.warning("pipeline %s node %s: post-commit step failed: %s", pipe.name, name, exc)


# ---------------------------------------------------------------------- 8. retain
def retain(pipe: LivePipeline, plog: PipelineLog, progress: PipelineProgress, retain_batches: int) -> None:
    """Fold the commits that fall out of the newest ``retain_batches`` into the snapshot
    (amortised, incremental for large states: see :mod:`odibi_stream.runtime.retention`)."""
    retention.retain(pipe, plog, progress, retain_batches)


# ---------------------------------------------------------------------- the whole protocol
def run_one_batch(
    pipe: LivePipeline,
    engine: Engine,
    plog: PipelineLog,
    progress: PipelineProgress,
    fence: Fence,
    *,
    force: bool = False,
    retain_batches: int = 100,
    clock: Clock = SYSTEM_CLOCK,
    maintainer: Maintainer | None = None,
) -> BatchReport | None:
    """Run steps 2-9 for one batch on recovered ``progress``; None when there is nothing to do.

    Raises:
        BatchFailed: naming the step (and node) that failed; its retryability is the cause's.
    """
    steps = StepReporter(pipe.name, clock, pipe.compiled.where)
    with steps.bound():
        return _run_steps(pipe, engine, plog, progress, fence, steps, force, retain_batches, clock, maintainer)


def _run_steps(
    pipe: LivePipeline,
    engine: Engine,
    plog: PipelineLog,
    progress: PipelineProgress,
    fence: Fence,
    steps: StepReporter,
    force: bool,
    retain_batches: int,
    clock: Clock,
    maintainer: Maintainer | None,
) -> BatchReport | None:
    replayed = progress.pending is not None
    with steps.time(Step.PLAN):
        entry = progress.pending if replayed else plan_batch(pipe, progress, fence.epoch, force=force, clock=clock)
        if entry is not None and replayed:
            _check_replayable(pipe.compiled, entry)
    if entry is None:
        return None
    steps.planned(entry.batch)
    if not replayed:
        with steps.time(Step.WRITE_AHEAD):
            write_ahead(plog, entry, fence)
    with steps.time(Step.EXECUTE):
        execution = execute(pipe, engine, entry)
    with steps.time(Step.DEAD_LETTER):
        write_dead_letters(pipe, engine, entry.batch, execution)
    with steps.time(Step.COMMIT):
        done = commit(plog, entry, execution, fence, _metrics(steps), clock)
    advance(pipe, progress, done)
    with steps.time(Step.ACKNOWLEDGE):
        acknowledge(pipe, entry)
    with steps.time(Step.RETAIN):
        retain(pipe, plog, progress, retain_batches)
    maintenance: list[dict[str, Any]] = []
    if maintainer is not None:
        with steps.time(Step.MAINTAIN):
            maintenance = maintainer.after_commit(done, engine, fence)
    return build_report(
        pipe.compiled, done, execution, steps.trace, replayed, input_sizes(pipe, entry), maintenance
    )


def input_sizes(pipe: LivePipeline, entry: OffsetsEntry) -> dict[str, dict[str, int]]:
    """What each source's range holds (files and bytes, offsets and partitions)."""
    out: dict[str, dict[str, int]] = {}
    for name, rng in entry.sources.items():
        source = pipe.sources.get(name)
        if source is None:
            continue
        try:
            out[name] = dict(source.range_size(rng))
        except Exception as exc:  # informative only: never fails a committed batch
            log.debug("pipeline %s node %s: range_size failed: %s", pipe.name, name, exc)
    return out


def _metrics(steps: StepReporter) -> dict[str, float]:
    """Step timings recorded in the commit entry (``<step>_ms``), up to the commit."""
    return {f"{step}_ms": round(ms, 3) for step, ms in steps.trace.steps_ms.items()}


def _check_replayable(compiled: CompiledPipeline, entry: OffsetsEntry) -> None:
    unknown = sorted(set(entry.sources) - set(compiled.sources))
    if unknown:
        raise CheckpointCorrupt(
            f"pipeline {compiled.name}: pending batch {entry.batch} reads node(s) {unknown} that the "
            "current config no longer has; it cannot be replayed verbatim",
            hint=f"restore the node(s), or `odibi-stream checkpoint skip --pipeline {compiled.name}` to drop it",
        )
