"""Batch observers: stories, alerts and traces, told about every batch off the commit path.

Lifecycle contract:
    * :func:`build_observers` composes what the project configures — always the story writer,
      an :class:`~odibi_stream.service.alerts.AlertManager` when ``alerts:`` has rules, a
      :class:`TraceExporter` when tracing is on (``tracing:`` or ``OTEL_*``) — into one
      :class:`ObserverSet`. Building validates (a missing ``otel`` extra is a ConfigError before
      anything starts). The daemon (and a one-shot run) starts the set and stops it after its
      workers drained, so the last batches' stories, alerts and spans still go out.
    * The stream manager calls :meth:`ObserverSet.batch_committed` / :meth:`batch_failed` from the
      pipeline's worker thread right after a commit or a failed attempt. Each observer only
      queues (stories, spans) or updates a small in-memory state (alerts); an observer's
      exception is logged and never reaches the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.project import Project
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.observability.tracing import BatchTracer, open_tracer, tracing_settings
from odibi_stream.runtime.report import BatchReport
from odibi_stream.service.alerts import AlertManager, StatusSource
from odibi_stream.service.background import BackgroundQueue
from odibi_stream.service.history import StoryHistory, StoryStore, pipeline_facts
from odibi_stream.service.story_writer import StoryWriter

log = logging.getLogger(__name__)


class BatchObserver(Protocol):
    """Told about every batch attempt (see the module docstring)."""

    def batch_committed(self, name: str, report: BatchReport, status: Mapping[str, Any]) -> None:
        """A batch of ``name`` committed; ``status`` is the pipeline's state after it."""
        ...

    def batch_failed(self, name: str, error: BaseException, retrying: bool, status: Mapping[str, Any]) -> None:
        """A batch attempt of ``name`` failed; ``retrying`` says whether it is retried."""
        ...

    def start(self) -> None:
        """Start background threads."""
        ...

    def stop(self) -> None:
        """Finish queued work (bounded) and stop."""
        ...


class StoryObserver:
    """Stories of every attempt, through a :class:`StoryWriter`."""

    def __init__(self, writer: StoryWriter) -> None:
        self.writer = writer

    def batch_committed(self, name: str, report: BatchReport, status: Mapping[str, Any]) -> None:
        """Queue the committed batch's story."""
        self.writer.committed(name, report, status.get("lag"))

    def batch_failed(self, name: str, error: BaseException, retrying: bool, status: Mapping[str, Any]) -> None:
        """Queue the failed attempt's story."""
        last = status.get("last_committed")
        self.writer.failed(name, error, retrying, last if isinstance(last, int) else None)

    def start(self) -> None:
        """Start the writer."""
        self.writer.start()

    def stop(self) -> None:
        """Write what is queued and stop."""
        self.writer.stop()


class AlertObserver:
    """Alerts from batch outcomes (and the manager's periodic ticks)."""

    def __init__(self, manager: AlertManager) -> None:
        self.manager = manager

    def batch_committed(self, name: str, report: BatchReport, status: Mapping[str, Any]) -> None:
        """Clear failed/stalled incidents of ``name``."""
        self.manager.committed(name, report)

    def batch_failed(self, name: str, error: BaseException, retrying: bool, status: Mapping[str, Any]) -> None:
        """Open a failed incident when the pipeline gave up."""
        self.manager.failed(name, error, retrying)

    def start(self) -> None:
        """Start ticks and delivery."""
        self.manager.start()

    def stop(self) -> None:
        """Stop ticks, then delivery."""
        self.manager.stop()


@dataclass(frozen=True)
class _Span:
    name: str
    report: BatchReport | None
    error: BaseException | None


class TraceExporter:
    """OpenTelemetry spans of every attempt, built on a background thread."""

    def __init__(self, tracer: BatchTracer) -> None:
        self.tracer = tracer
        self.queue: BackgroundQueue[_Span] = BackgroundQueue("odibi-traces", self._emit, 10_000)

    def batch_committed(self, name: str, report: BatchReport, status: Mapping[str, Any]) -> None:
        """Queue the committed batch's spans."""
        self.queue.offer(_Span(name, report, None))

    def batch_failed(self, name: str, error: BaseException, retrying: bool, status: Mapping[str, Any]) -> None:
        """Queue the failed attempt's spans."""
        self.queue.offer(_Span(name, None, error))

    def _emit(self, item: _Span) -> None:
        if item.report is not None:
            self.tracer.committed(item.report)
        elif item.error is not None:
            self.tracer.failed(item.error, item.name)

    def flush(self, timeout: float = 10.0) -> bool:
        """Build every queued span and export them now (tests)."""
        return self.queue.flush(timeout) and self.tracer.flush(timeout)

    def start(self) -> None:
        """Start the span builder."""
        self.queue.start()

    def stop(self) -> None:
        """Build what is queued, flush the exporter, stop."""
        self.queue.stop()
        self.tracer.close()


class ObserverSet:
    """Fans batch outcomes out to every observer; never raises (see the module docstring)."""

    def __init__(self, observers: list[BatchObserver], history: StoryHistory) -> None:
        self.observers = observers
        self.history = history

    def get(self, kind: type[Any]) -> Any:
        """The observer of type ``kind``, or None."""
        return next((o for o in self.observers if isinstance(o, kind)), None)

    def batch_committed(self, name: str, report: BatchReport, status: Mapping[str, Any]) -> None:
        """Tell every observer about a commit."""
        for observer in self.observers:
            try:
                observer.batch_committed(name, report, status)
            except Exception:
                log.exception("batch observer %s failed", type(observer).__name__)

    def batch_failed(self, name: str, error: BaseException, retrying: bool, status: Mapping[str, Any]) -> None:
        """Tell every observer about a failed attempt."""
        for observer in self.observers:
            try:
                observer.batch_failed(name, error, retrying, status)
            except Exception:
                log.exception("batch observer %s failed", type(observer).__name__)

    def start(self) -> None:
        """Start every observer."""
        for observer in self.observers:
            observer.start()

    def stop(self) -> None:
        """Stop every observer, each finishing its queued work (bounded)."""
        for observer in self.observers:
            try:
                observer.stop()
            except Exception:
                log.exception("stopping %s failed", type(observer).__name__)


def build_observers(
    project: Project,
    checkpoints: CheckpointManager,
    status: StatusSource | None = None,
    *,
    facts: Callable[[str], Any] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> ObserverSet:
    """The observers ``project`` configures (see the module docstring).

    Args:
        project: The project (rules, tracing settings, retention).
        checkpoints: Where stories are kept.
        status: Pipeline status for alert ticks (None: no alerts, e.g. one-shot runs).
        facts: Pipeline name → story facts (default: from ``project``).
        clock: Where time comes from.

    Raises:
        ConfigError: tracing is on but the ``otel`` extra is missing.
    """
    history = StoryHistory(StoryStore(checkpoints.store, project.config.checkpoint.retain_batches))

    def read_plan(name: str, batch: int) -> Mapping[str, Any] | None:
        entry = checkpoints.log(name).read_offsets(batch)
        return entry.sources if entry is not None else None

    def last_committed(name: str) -> int:
        return checkpoints.log(name).recover(quarantine=False).last_committed

    writer = StoryWriter(history, facts or (lambda name: pipeline_facts(project, name)), read_plan,
                         last_committed, clock=clock)
    observers: list[BatchObserver] = []
    settings = tracing_settings(project.config.tracing)
    if settings is not None:
        observers.append(TraceExporter(open_tracer(settings, project.config.project)))
    if status is not None and project.config.alerts:
        observers.append(AlertObserver(AlertManager(project.config.project, list(project.config.alerts), status, clock=clock)))
    observers.append(StoryObserver(writer))
    return ObserverSet(observers, history)
