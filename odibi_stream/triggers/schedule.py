"""``cron`` and ``interval`` triggers on APScheduler 3, with catch-up of missed ticks.

Cron expressions have 5 fields (``min hour day month weekday``, crontab semantics: 0 or 7 is
Sunday) or 6 fields with seconds first (``sec min hour day month weekday``). Each fired tick is
recorded in the checkpoint store under ``<pipeline>/schedule.json``::

    {"version": 1, "last_tick": "2026-01-01T00:00:00+00:00"}

On start the trigger counts the ticks the schedule would have fired after ``last_tick`` while
the daemon was down and applies ``catch_up``: ``all`` wakes once per missed tick (counted, not
coalesced; at most :data:`MAX_CATCH_UP`), ``latest`` wakes once, ``skip`` not at all. The newest
missed tick is recorded either way, so the same ticks are never caught up twice. With no
``schedule.json`` yet, the start time is recorded as the baseline.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import datetime, timezone
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from odibi_stream.config.base import parse_duration
from odibi_stream.config.models import ScheduleTrigger
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.core.wake import WakeFn, WakeReason
from odibi_stream.exceptions import CheckpointCorrupt, ConfigError

log = logging.getLogger(__name__)

SCHEDULE_VERSION = 1
MAX_CATCH_UP = 1000
"""Upper bound on missed ticks counted (and, for ``catch_up: all``, run) after downtime."""
_DOW_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class TickStore(Protocol):
    """The part of ``CheckpointStore`` the schedule needs."""

    def read(self, key: str) -> bytes | None: ...

    def replace(self, key: str, data: bytes) -> None: ...


def _dow(field: str) -> str:
    """Crontab weekday numbers (0/7 = Sunday) -> names, which APScheduler reads unambiguously."""
    return re.sub(r"\d+", lambda m: _DOW_NAMES[int(m.group()) % 8], field)


def build_schedule(kind: str, cfg: ScheduleTrigger) -> BaseTrigger:
    """Build the APScheduler trigger for a ``cron`` or ``interval`` setting.

    Raises:
        ConfigError: bad expression, interval or timezone.
    """
    try:
        tz = ZoneInfo(cfg.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown timezone {cfg.timezone!r}", hint="use an IANA name such as Europe/Paris") from exc
    try:
        if kind == "interval":
            if not cfg.every:
                raise ValueError("interval trigger needs 'every'")
            return IntervalTrigger(seconds=parse_duration(cfg.every).total_seconds(), timezone=tz)
        fields = (cfg.expression or "").split()
        if len(fields) == 5:
            fields = ["0", *fields]
        if len(fields) != 6:
            raise ValueError("cron expression needs 5 fields, or 6 with seconds first")
        sec, minute, hour, day, month, dow = fields
        return CronTrigger(
            second=sec, minute=minute, hour=hour, day=day, month=month, day_of_week=_dow(dow), timezone=tz
        )
    except ValueError as exc:
        raise ConfigError(f"bad {kind} schedule: {exc}", hint="e.g. cron: {expression: '*/5 * * * * *'} or interval: {every: 30s}") from exc


def count_missed(schedule: BaseTrigger, last_tick: datetime, now: datetime) -> tuple[int, datetime | None]:
    """Count ticks in ``(last_tick, now]`` (at most :data:`MAX_CATCH_UP`) and the newest one."""
    count, newest, prev = 0, None, last_tick
    while count < MAX_CATCH_UP:
        nxt = schedule.get_next_fire_time(prev, now)
        if nxt is None or nxt > now or nxt <= prev:
            break
        count, newest, prev = count + 1, nxt, nxt
    return count, newest


class ScheduleTriggerRunner:
    """A cron/interval trigger (the :class:`~odibi_stream.triggers.base.Trigger` protocol).

    Args:
        pipeline: Pipeline name (the state key is ``<pipeline>/schedule.json``).
        kind: ``cron`` or ``interval``.
        cfg: The schedule settings.
        store: Checkpoint store holding ``schedule.json``.
        scheduler: A shared, started BackgroundScheduler; None creates a private one.
        clock: Where "now" comes from for catch-up and recorded ticks (live ticks are
            APScheduler's).

    Attributes:
        fired: Live ticks fired so far. ``caught_up``: wake-ups issued for missed ticks.
    """

    def __init__(
        self,
        pipeline: str,
        kind: str,
        cfg: ScheduleTrigger,
        store: TickStore,
        scheduler: BackgroundScheduler | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.pipeline = pipeline
        self.clock = clock
        self.cfg = cfg
        self.schedule = build_schedule(kind, cfg)
        self.store = store
        self.key = f"{pipeline}/schedule.json"
        self._own_scheduler = scheduler is None
        self._scheduler = scheduler or BackgroundScheduler(timezone=timezone.utc)
        self._job_id = f"odibi-schedule-{pipeline}"
        self._wake: WakeFn | None = None
        self._lock = threading.Lock()
        self.fired = 0
        self.caught_up = 0

    # ------------------------------------------------------------------ state
    def last_tick(self) -> datetime | None:
        """The recorded last tick, or None."""
        raw = self.store.read(self.key)
        if raw is None:
            return None
        try:
            doc = orjson.loads(raw)
            if doc.get("version") != SCHEDULE_VERSION:
                raise ValueError(f"unknown version {doc.get('version')!r}")
            return datetime.fromisoformat(doc["last_tick"]).astimezone(timezone.utc)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointCorrupt(f"{self.key}: {exc}", hint="delete the file to reset the schedule baseline") from exc

    def record(self, tick: datetime) -> None:
        """Persist ``tick`` as the last fired tick."""
        doc = {"version": SCHEDULE_VERSION, "last_tick": tick.astimezone(timezone.utc).isoformat()}
        self.store.replace(self.key, orjson.dumps(doc))

    # ------------------------------------------------------------------ lifecycle
    def start(self, wake: WakeFn) -> None:
        """Catch up missed ticks per ``catch_up``, then schedule live ticks."""
        with self._lock:
            self._wake = wake
        self._catch_up(wake)
        self._scheduler.add_job(
            self._fire, self.schedule, id=self._job_id, replace_existing=True,
            coalesce=True, max_instances=1, misfire_grace_time=None,
        )
        if self._own_scheduler and not self._scheduler.running:
            self._scheduler.start()

    def stop(self) -> None:
        """Unschedule the job (and stop a private scheduler); idempotent."""
        with self._lock:
            self._wake = None
        if self._scheduler.get_job(self._job_id) is not None:
            self._scheduler.remove_job(self._job_id)
        if self._own_scheduler and self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def _catch_up(self, wake: WakeFn) -> None:
        now = self.clock.now()
        last = self.last_tick()
        if last is None:
            self.record(now)
            return
        missed, newest = count_missed(self.schedule, last, now)
        if newest is None:
            return
        runs = {"all": missed, "latest": 1, "skip": 0}[self.cfg.catch_up]
        log.info("schedule catch-up: pipeline=%s missed=%d policy=%s runs=%d",
                 self.pipeline, missed, self.cfg.catch_up, runs)
        self.record(newest)
        for _ in range(runs):
            self.caught_up += 1
            wake(WakeReason.CATCH_UP)

    def _fire(self) -> None:
        with self._lock:
            wake = self._wake
        if wake is None:
            return
        self.fired += 1
        try:
            self.record(self.clock.now())
        except Exception:  # a storage hiccup must not cost the tick itself
            log.exception("could not record schedule tick: pipeline=%s", self.pipeline)
        wake(WakeReason.TICK)
