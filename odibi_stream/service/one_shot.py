"""One-shot runs (``odibi-stream run``, ``Runtime.run_once``): catch a pipeline up, then stop.

The run holds the pipeline's lease for its whole duration (see ``service.ownership``), so it
never processes a pipeline a daemon owns, and it opens and closes the pipeline's readers and
writers like a daemon's worker does. Every committed and failed batch leaves its story (and its
trace, when tracing is on), written before the run returns.
"""

from __future__ import annotations

from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.project import Project
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.engines import get_engine
from odibi_stream.engines.base import Engine
from odibi_stream.runtime.compile import compile_pipeline
from odibi_stream.runtime.report import BatchReport
from odibi_stream.runtime.runner import PipelineRunner
from odibi_stream.service.observers import ObserverSet, build_observers
from odibi_stream.service.ownership import owned


def run_pipeline(
    project: Project,
    name: str,
    *,
    max_batches: int | None = None,
    engine: Engine | None = None,
    lease_ttl: float | None = None,
    wait: float | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> list[BatchReport]:
    """Replay/plan batches of ``name`` until caught up (or ``max_batches``), under its lease.

    Pipelines without incremental sources get one forced batch. An engine passed in stays
    open (the caller owns it); otherwise one is created and closed here.

    Raises:
        LeaseLost: another process held the lease for longer than ``wait`` seconds.
        BatchFailed: a batch failed (nothing after its last commit is lost).
    """
    compiled = compile_pipeline(project, name, clock)
    ttl = lease_ttl or project.config.runtime.lease_ttl_seconds
    own_engine = engine is None
    engine = engine or get_engine(compiled.config.engine or project.config.engine, project.config.spark)
    try:
        with CheckpointManager.open(project.checkpoint) as checkpoints, owned(checkpoints.store, name, ttl, wait=ttl if wait is None else wait, clock=clock) as lease, \
                PipelineRunner(compiled, engine=engine, checkpoints=checkpoints, fence=lease,
                               retain_batches=project.config.checkpoint.retain_batches, clock=clock) as runner:
            observers = build_observers(project, checkpoints, clock=clock)
            observers.start()
            try:
                return _batches(runner, observers, max_batches)
            finally:
                observers.stop()
    finally:
        if own_engine:
            engine.close()


def _batches(runner: PipelineRunner, observers: ObserverSet, max_batches: int | None) -> list[BatchReport]:
    reports: list[BatchReport] = []
    force = not runner.has_incremental_sources()
    while not runner.stop.is_set() and (max_batches is None or len(reports) < max_batches):
        try:
            report = runner.run_batch(force=force)
        except Exception as exc:
            observers.batch_failed(runner.name, exc, False, {"last_committed": _last(reports)})
            raise
        if report is None:
            break
        observers.batch_committed(runner.name, report, {})
        reports.append(report)
        if force:
            force = False
            if not runner.has_incremental_sources():
                break
    return reports


def _last(reports: list[BatchReport]) -> int | None:
    return reports[-1].batch if reports else None
