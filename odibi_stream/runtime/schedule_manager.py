"""ScheduleManager: builds and owns the triggers of the pipelines a daemon runs.

Lifecycle contract:
    * The daemon creates it with the checkpoint store and the StreamManager, calls
      :meth:`ScheduleManager.start` once, then :meth:`add` for each pipeline right after the
      pipeline's worker was added to the StreamManager (so wake-ups have a target), and
      :meth:`remove` before removing the worker. :meth:`stop` stops every trigger.
    * One APScheduler BackgroundScheduler serves all cron/interval triggers and one watchdog
      observer all file_watch triggers, so 50 pipelines do not cost 50 scheduler threads.
    * ``after`` triggers are subscribed to the StreamManager's commit notifications.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import timezone
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from watchdog.observers import Observer

from odibi_stream.config.models import PipelineConfig
from odibi_stream.connectors.base import Source
from odibi_stream.connectors.kafka_source import KafkaSource
from odibi_stream.runtime.stream_manager import StreamManager
from odibi_stream.triggers.after import AfterTrigger
from odibi_stream.triggers.base import Trigger, WakeFn
from odibi_stream.triggers.file_watch import FileWatchTrigger
from odibi_stream.triggers.kafka import KafkaTrigger
from odibi_stream.triggers.manual import ManualTrigger
from odibi_stream.triggers.poll import PollingTrigger
from odibi_stream.triggers.schedule import ScheduleTriggerRunner, _TickStore

log = logging.getLogger(__name__)

DATA_POLL_SECONDS = 1.0
"""Default poll period of eventhub pipelines (``trigger: {eventhub: {poll_seconds: ...}}``)."""
KAFKA_INTERVAL_SECONDS = 0.5
"""Default end-offset poll period of kafka pipelines (``trigger: {kafka: {interval_seconds: ...}}``)."""


class TriggerGroup:
    """Several triggers acting as one (a pipeline reading Kafka through several connections)."""

    def __init__(self, triggers: Sequence[Trigger]) -> None:
        self.triggers = list(triggers)

    def start(self, wake: WakeFn) -> None:
        """Start every member with the same ``wake``."""
        for trigger in self.triggers:
            trigger.start(wake)

    def stop(self) -> None:
        """Stop every member (idempotent)."""
        for trigger in self.triggers:
            trigger.stop()


def kafka_trigger(config: PipelineConfig, sources: Mapping[str, Source]) -> Trigger | None:
    """A :class:`KafkaTrigger` over the topics of the pipeline's kafka reads, None without any.

    Each kafka read node contributes its topics (or pattern) and its connection's client
    settings; the interval is ``trigger.kafka.interval_seconds`` (``poll_seconds`` accepted).
    """
    opts = config.trigger.kafka or {}
    interval = float(opts.get("interval_seconds", opts.get("poll_seconds", KAFKA_INTERVAL_SECONDS)))
    triggers: list[Trigger] = [
        KafkaTrigger(src.connection_options, list(src.topics), src.pattern, interval=interval)
        for src in sources.values()
        if isinstance(src, KafkaSource)
    ]
    if not triggers:
        return None
    return triggers[0] if len(triggers) == 1 else TriggerGroup(triggers)


def settle_seconds(config: PipelineConfig) -> float:
    """Longest settle time among the pipeline's incremental file reads without markers."""
    values = [
        n.read.incremental.settle_seconds
        for n in config.nodes
        if n.read and n.read.incremental and n.read.incremental.mode == "files" and not n.read.incremental.marker_suffix
    ]
    return max(values, default=0.0)


class ScheduleManager:
    """Owns triggers: cron/interval (APScheduler), file_watch (watchdog), after, manual, data polls.

    Args:
        store: Checkpoint store (schedule state ``<pipeline>/schedule.json``).
        streams: Where wake-ups go.
    """

    def __init__(self, store: _TickStore, streams: StreamManager) -> None:
        self.store = store
        self.streams = streams
        self._scheduler = BackgroundScheduler(timezone=timezone.utc)
        self._observer = Observer()
        self._triggers: dict[str, Trigger] = {}
        self._lock = threading.Lock()
        self._started = False

    def start(self) -> None:
        """Start the shared scheduler and observer threads."""
        self._scheduler.start()
        self._observer.start()
        self._started = True

    def build(
        self, config: PipelineConfig, watch_paths: Sequence[Path], sources: Mapping[str, Source] | None = None
    ) -> Trigger:
        """Build the trigger for ``config`` (not started). ``continuous`` is driven by the worker.

        Args:
            config: The pipeline.
            watch_paths: Folders of its incremental file reads (file_watch).
            sources: Its incremental sources by node (the runner's ``plan.sources``); kafka
                pipelines poll the end offsets of their kafka sources' topics.
        """
        trig = config.trigger
        kind = trig.kind
        if kind == "file_watch" and trig.file_watch is not None:
            fw = trig.file_watch
            return FileWatchTrigger(
                watch_paths, debounce_ms=fw.debounce_ms, reconcile_seconds=fw.reconcile_seconds,
                settle_seconds=settle_seconds(config), observer=self._observer,
            )
        if kind in ("cron", "interval"):
            cfg = trig.cron if kind == "cron" else trig.interval
            assert cfg is not None
            return ScheduleTriggerRunner(config.pipeline, kind, cfg, self.store, self._scheduler)
        if kind == "after" and trig.after is not None:
            return AfterTrigger(trig.after)
        if kind == "kafka":
            found = kafka_trigger(config, sources or {})
            if found is not None:
                return found
        if kind in ("kafka", "eventhub"):
            opts = getattr(trig, kind) or {}
            return PollingTrigger(None, float(opts.get("poll_seconds", DATA_POLL_SECONDS)))
        return ManualTrigger()  # manual, and continuous (its worker polls itself)

    def add(
        self, config: PipelineConfig, watch_paths: Sequence[Path], sources: Mapping[str, Source] | None = None
    ) -> Trigger:
        """Build and start the trigger of a pipeline whose worker is already running (see :meth:`build`)."""
        trigger = self.build(config, watch_paths, sources)
        name = config.pipeline
        with self._lock:
            if name in self._triggers:
                raise KeyError(f"pipeline {name!r} already has a trigger")
            self._triggers[name] = trigger
        if isinstance(trigger, AfterTrigger):
            self.streams.add_commit_listener(trigger.notify)
        trigger.start(self.streams.waker(name))
        return trigger

    def get(self, name: str) -> Trigger | None:
        """The running trigger of ``name``, if any."""
        with self._lock:
            return self._triggers.get(name)

    def remove(self, name: str) -> None:
        """Stop the trigger of ``name`` (no error if none)."""
        with self._lock:
            trigger = self._triggers.pop(name, None)
        if trigger is None:
            return
        if isinstance(trigger, AfterTrigger):
            self.streams.remove_commit_listener(trigger.notify)
        try:
            trigger.stop()
        except Exception:
            log.exception("stopping trigger failed: pipeline=%s", name)

    def stop(self) -> None:
        """Stop every trigger, then the shared scheduler and observer."""
        with self._lock:
            names = list(self._triggers)
        for name in names:
            self.remove(name)
        if self._started:
            self._scheduler.shutdown(wait=False)
            self._observer.stop()
            self._observer.join()
            self._started = False
