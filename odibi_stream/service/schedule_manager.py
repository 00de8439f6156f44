"""ScheduleManager: builds and owns the triggers of the pipelines a daemon runs.

Lifecycle contract:
    * The daemon creates it with the checkpoint store and the StreamManager, calls
      :meth:`ScheduleManager.start` once, then :meth:`add` for each pipeline right after the
      pipeline's worker was added to the StreamManager (so wake-ups have a target), and
      :meth:`remove` before removing the worker. :meth:`stop` stops every trigger.
    * One APScheduler BackgroundScheduler serves all cron/interval triggers and one watchdog
      observer all file_watch triggers, so 50 pipelines do not cost 50 scheduler threads.
    * ``after`` triggers are subscribed to the StreamManager's commit notifications.
    * Triggers are built by :func:`odibi_stream.triggers.build.build_trigger` from the trigger
      config and what the pipeline's sources say wakes them — no knowledge of connectors here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import timezone

from apscheduler.schedulers.background import BackgroundScheduler

from odibi_stream.config.models import PipelineConfig
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.core.wake import Watch
from odibi_stream.service.stream_manager import StreamManager
from odibi_stream.triggers.after import AfterTrigger
from odibi_stream.triggers.base import Trigger
from odibi_stream.triggers.build import build_trigger
from odibi_stream.triggers.file_watch import new_observer
from odibi_stream.triggers.schedule import TickStore

log = logging.getLogger(__name__)


class ScheduleManager:
    """Owns triggers: cron/interval (APScheduler), file_watch (watchdog), after, manual, polls.

    Args:
        store: Checkpoint store (schedule state ``<pipeline>/schedule.json``).
        streams: Where wake-ups go.
        clock: Where time comes from.
    """

    def __init__(self, store: TickStore, streams: StreamManager, clock: Clock = SYSTEM_CLOCK) -> None:
        self.store = store
        self.streams = streams
        self.clock = clock
        self._scheduler = BackgroundScheduler(timezone=timezone.utc)
        self._observer = new_observer()
        self._triggers: dict[str, Trigger] = {}
        self._lock = threading.Lock()
        self._started = False

    def start(self) -> None:
        """Start the shared scheduler and observer threads."""
        self._scheduler.start()
        self._observer.start()
        self._started = True

    def build(self, config: PipelineConfig, watches: Sequence[Watch]) -> Trigger:
        """Build the trigger for ``config`` (not started); see ``triggers.build``."""
        return build_trigger(
            config, watches, store=self.store, scheduler=self._scheduler,
            observer=self._observer, clock=self.clock,
        )

    def add(self, config: PipelineConfig, watches: Sequence[Watch]) -> Trigger:
        """Build and start the trigger of a pipeline whose worker is already running."""
        trigger = self.build(config, watches)
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
