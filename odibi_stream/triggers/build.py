"""Building a pipeline's trigger from its ``trigger:`` config and what its sources say wakes them.

The one place that maps trigger kinds to trigger objects. Data triggers are assembled from the
sources' :data:`~odibi_stream.core.wake.Watch` values — folders become a file-watch trigger,
probes become polling triggers — so a new connector needs no change here.

Lifecycle: :func:`check_trigger` runs when a pipeline is compiled (``validate`` and loads), so
a data trigger without anything to watch is a config error before the daemon starts;
the ScheduleManager calls :func:`build_trigger` when it adds a leased pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from odibi_stream.config.models import PipelineConfig
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.core.wake import FolderWatch, PollWatch, Watch
from odibi_stream.exceptions import ConfigError
from odibi_stream.triggers.after import AfterTrigger
from odibi_stream.triggers.base import Trigger, TriggerGroup
from odibi_stream.triggers.data import PollingTrigger
from odibi_stream.triggers.manual import ManualTrigger

if TYPE_CHECKING:  # APScheduler and watchdog load with the first trigger that needs them:
    # compiling a pipeline (validate, run) checks its trigger without either (~60 ms).
    from apscheduler.schedulers.base import BaseScheduler
    from watchdog.observers.api import BaseObserver

    from odibi_stream.triggers.schedule import TickStore

POLLED_KINDS = ("kafka", "eventhub")
"""Trigger kinds that poll their sources' probes."""


def poll_interval(config: PipelineConfig) -> float | None:
    """The configured poll interval of a kafka/eventhub trigger (None: each source's default)."""
    trig = config.trigger
    polled = trig.kafka or trig.eventhub
    return polled.interval if polled is not None else None


def check_trigger(config: PipelineConfig, watches: Sequence[Watch]) -> None:
    """Raise ConfigError when a data trigger has nothing to watch.

    Raises:
        ConfigError: ``file_watch`` without a files source, ``kafka``/``eventhub`` without a
            source that can be polled.
    """
    kind = config.trigger.kind
    # A cloud folder's files source offers a listing poll instead of a folder to watch.
    folders = [w for w in watches if isinstance(w, FolderWatch) or (isinstance(w, PollWatch) and w.folder)]
    if kind == "file_watch" and not folders:
        raise ConfigError(
            f"pipeline {config.pipeline}: trigger file_watch needs an incremental files read",
            hint="add incremental: {mode: files} to a read node, or use another trigger",
        )
    if kind in POLLED_KINDS and not any(isinstance(w, PollWatch) for w in watches):
        raise ConfigError(
            f"pipeline {config.pipeline}: trigger {kind} needs a {kind} read node to watch",
            hint=f"read from a {kind} connection with format: {kind}, or use an interval/cron trigger",
        )


def build_trigger(
    config: PipelineConfig,
    watches: Sequence[Watch],
    *,
    store: TickStore,
    scheduler: BaseScheduler,
    observer: BaseObserver,
    clock: Clock = SYSTEM_CLOCK,
) -> Trigger:
    """The (not started) trigger of ``config``; ``continuous`` is driven by its worker.

    Args:
        config: The pipeline.
        watches: What its sources say wakes them (``CompiledPipeline.watches()``).
        store: Checkpoint store (schedule state ``<pipeline>/schedule.json``).
        scheduler: The shared, started APScheduler for cron/interval.
        observer: The shared, started watchdog observer for file_watch.
        clock: Where time comes from.
    """
    trig = config.trigger
    kind = trig.kind
    check_trigger(config, watches)
    if kind == "file_watch":
        assert trig.file_watch is not None
        return _file_watch(config, watches, observer)
    if kind in ("cron", "interval"):
        cfg = trig.cron if kind == "cron" else trig.interval
        assert cfg is not None
        from odibi_stream.triggers.schedule import ScheduleTriggerRunner

        return ScheduleTriggerRunner(config.pipeline, kind, cfg, store, scheduler, clock)
    if kind == "after":
        assert trig.after is not None
        return AfterTrigger(trig.after)
    if kind in POLLED_KINDS:
        interval = poll_interval(config)
        polled: list[Trigger] = [
            PollingTrigger(w, interval, clock) for w in watches if isinstance(w, PollWatch)
        ]
        return polled[0] if len(polled) == 1 else TriggerGroup(polled)
    return ManualTrigger()  # manual, and continuous (its worker probes itself)


def _file_watch(config: PipelineConfig, watches: Sequence[Watch], observer: BaseObserver) -> Trigger:
    fw = config.trigger.file_watch
    assert fw is not None
    folders = [w for w in watches if isinstance(w, FolderWatch)]
    paths = [p for w in folders for p in w.paths]
    polled = [PollingTrigger(w, fw.reconcile_seconds) for w in watches if isinstance(w, PollWatch)]
    if not folders:  # only cloud folders: their listing polls are the whole trigger
        return polled[0] if len(polled) == 1 else TriggerGroup(list(polled))
    from odibi_stream.triggers.file_watch import FileWatchTrigger

    trigger: Trigger = FileWatchTrigger(
        paths,
        debounce_ms=fw.debounce_ms,
        reconcile_seconds=fw.reconcile_seconds,
        settle_seconds=max((w.settle_seconds for w in folders), default=0.0),
        observer=observer,
        landing=[w.events for w in folders if w.events is not None],
    )
    return TriggerGroup([trigger, *polled]) if polled else trigger
