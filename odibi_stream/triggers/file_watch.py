"""The ``file_watch`` trigger: watchdog events, debounced, plus a periodic reconciliation.

inotify is fast (~0.5 ms from create to event) but not a guarantee: events are lost when the
kernel queue overflows, on network filesystems, or for files that landed while nothing watched.
So besides events the trigger wakes its pipeline every ``reconcile_seconds``; the runner then
lists the folders itself, which makes a missed event a delayed file, never a lost one.

A burst of events becomes one wake-up: after the first event the trigger waits for a quiet
period of ``debounce_ms`` (capped at :data:`MAX_DEBOUNCE_DELAY` so a steady stream still makes
progress). Files that must *settle* (size/mtime stable for ``settle_seconds``) are not yet
plannable when their event arrives, so an event also schedules a follow-up wake once they have
settled — unless the file was seen *complete*: closed after writing (inotify ``IN_CLOSE_WRITE``)
or renamed in (``IN_MOVED_TO``). Those are recorded in the sources' :class:`LandingEvents` (with
every other changed path, so plans look at candidates instead of listing everything) before the
wake-up, and are plannable at once. The shared observer therefore reports unpaired renames as
moves (:func:`new_observer`), not as creations.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from odibi_stream.core.landing import LandingEvents
from odibi_stream.core.wake import WakeFn, WakeReason

log = logging.getLogger(__name__)

MAX_DEBOUNCE_DELAY = 1.0
"""Longest a continuous stream of events can postpone a wake-up, in seconds."""
SETTLE_MARGIN = 0.05
"""Extra seconds after ``settle_seconds`` before the follow-up wake (mtime granularity)."""
_RELEVANT = frozenset({"created", "moved", "modified", "closed"})


def new_observer() -> BaseObserver:
    """The observer to share between file_watch triggers: on Linux an inotify observer that
    reports a file renamed in from an unwatched folder as a move (complete), not a creation."""
    try:
        from watchdog.observers.inotify import InotifyObserver
    except ImportError:  # not Linux: the platform's observer; files settle by age
        return Observer()
    return InotifyObserver(generate_full_events=True)


class _Handler(FileSystemEventHandler):
    """Forwards relevant file events to the trigger (runs on the observer thread)."""

    def __init__(self, trigger: FileWatchTrigger) -> None:
        self.trigger = trigger

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        kind = event.event_type
        src, dest = _text(event.src_path), _text(event.dest_path)
        for events in self.trigger.landing:
            _record(events, kind, src, dest)
        if kind not in _RELEVANT:
            return  # opened/closed_no_write come from our own reads: never a reason to wake
        path = dest or src
        if self.trigger.accepts(path):
            self.trigger.notify()


def _text(path: bytes | str) -> str:
    return path.decode() if isinstance(path, bytes) else path


def _record(events: LandingEvents, kind: str, src: str, dest: str) -> None:
    """Tell the source what happened, before its pipeline is woken."""
    if kind == "closed" and events.owns(src):
        events.complete(src)
    elif kind == "moved":
        if src and events.owns(src):
            events.changed(src)
        if dest and events.owns(dest):
            events.complete(dest)
    elif kind in ("created", "modified", "deleted") and events.owns(src):
        events.changed(src)


class FileWatchTrigger:
    """Wake a pipeline when files land under ``paths``.

    Args:
        paths: Folders to watch (created if missing so the watch can start).
        debounce_ms: Quiet period that coalesces a burst of events into one wake-up.
        reconcile_seconds: Period of the safety-net wake-up; None disables it.
        settle_seconds: If > 0, wake again this long after the last event (files settle).
        recursive: Watch sub-folders too.
        suffixes: If given, only paths ending with one of these count.
        observer: A shared, already started watchdog observer; None creates a private one.
        landing: The watched sources' event records (see :mod:`odibi_stream.core.landing`).

    Attributes:
        wakeups: How many times ``wake`` was called (for tests and benchmarks).
        events: How many relevant file events arrived.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        debounce_ms: int = 5,
        reconcile_seconds: float | None = 30.0,
        settle_seconds: float = 0.0,
        recursive: bool = True,
        suffixes: Sequence[str] | None = None,
        observer: BaseObserver | None = None,
        landing: Sequence[LandingEvents] = (),
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.debounce = debounce_ms / 1000.0
        self.reconcile = reconcile_seconds
        self.settle = settle_seconds
        self.recursive = recursive
        self.suffixes = tuple(suffixes) if suffixes else None
        self._shared_observer = observer is not None
        self._observer: BaseObserver = observer if observer is not None else new_observer()
        self.landing = tuple(landing)
        self._attached = False
        self._watches: list[ObservedWatch] = []
        self._event = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.wakeups = 0
        self.events = 0

    def accepts(self, path: str) -> bool:
        """Whether an event on ``path`` is relevant (suffix filter)."""
        return self.suffixes is None or path.endswith(self.suffixes)

    def notify(self) -> None:
        """Record that a relevant event happened (called from the observer thread)."""
        self.events += 1
        self._event.set()

    def start(self, wake: WakeFn) -> None:
        """Schedule the watches and start the debounce/reconcile thread."""
        handler = _Handler(self)
        for events in self.landing:
            events.attach()
        self._attached = True
        for path in self.paths:
            path.mkdir(parents=True, exist_ok=True)
            self._watches.append(self._observer.schedule(handler, str(path), recursive=self.recursive))
        if not self._shared_observer:
            self._observer.start()
        self._thread = threading.Thread(target=self._loop, args=(wake,), name="odibi-file-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Remove the watches, stop the thread; idempotent."""
        self._stopped.set()
        self._event.set()
        for watch in self._watches:
            with contextlib.suppress(KeyError, ValueError):  # already gone (observer stopped first)
                self._observer.unschedule(watch)
        self._watches.clear()
        if self._attached:
            self._attached = False
            for events in self.landing:
                events.detach()
        if not self._shared_observer and self._observer.is_alive():
            self._observer.stop()
            self._observer.join()
        if self._thread is not None:
            self._thread.join()

    def _loop(self, wake: WakeFn) -> None:
        now = time.monotonic()
        next_reconcile = now + self.reconcile if self.reconcile else None
        followup: float | None = None
        while not self._stopped.is_set():
            deadlines = [d for d in (next_reconcile, followup) if d is not None]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            if self._event.wait(timeout):
                if self._stopped.is_set():
                    return
                self._quiet_period()
                self._fire(wake)
                if self.settle > 0:
                    followup = time.monotonic() + self.settle + SETTLE_MARGIN
                continue
            now = time.monotonic()
            due = False
            if followup is not None and now >= followup:
                followup, due = None, True
            if next_reconcile is not None and now >= next_reconcile:
                next_reconcile, due = now + (self.reconcile or 0.0), True
                for events in self.landing:
                    events.lost()  # the safety net lists in full: events may have been missed
            if due and not self._stopped.is_set():
                self._fire(wake)

    def _quiet_period(self) -> None:
        """Wait until no event arrived for ``debounce`` seconds (bounded)."""
        self._event.clear()
        limit = time.monotonic() + max(MAX_DEBOUNCE_DELAY, self.debounce)
        while time.monotonic() < limit and not self._stopped.is_set():
            if not self._event.wait(self.debounce):
                return
            self._event.clear()

    def _fire(self, wake: WakeFn) -> None:
        self.wakeups += 1
        try:
            wake(WakeReason.DATA)
        except Exception:  # a failing callback must not kill the watcher
            log.exception("file_watch wake callback failed")
