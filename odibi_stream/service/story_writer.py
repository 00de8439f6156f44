"""StoryWriter: writes every batch's story off the commit path.

Lifecycle contract:
    * Built by the daemon (or a one-shot run) and started on its ExitStack; :meth:`stop` writes
      what is queued (bounded by a timeout) and ends the thread.
    * :meth:`committed` / :meth:`failed` are called from pipeline worker threads right after a
      commit or a failed attempt: they only put a reference on a bounded queue (about a
      microsecond) and never block or raise. Building the story, JSON encoding, the store write
      and retention happen on the writer's own thread (``service.background``). A full queue
      drops the story (counted and logged) and a failing write is logged: a story never fails
      or slows a batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.observability.story import PipelineFacts, committed_story, failed_story
from odibi_stream.runtime.report import BatchReport
from odibi_stream.service.background import BackgroundQueue
from odibi_stream.service.history import StoryHistory

log = logging.getLogger(__name__)

PlanReader = Callable[[str, int], Mapping[str, Any] | None]
"""(pipeline, batch) → the planned source ranges of that batch, if written ahead."""

LastCommitted = Callable[[str], int]
"""pipeline → its last committed batch (-1 if none), read from the checkpoint."""


@dataclass(frozen=True)
class _Committed:
    name: str
    report: BatchReport
    lag: Mapping[str, Any]


@dataclass(frozen=True)
class _Failed:
    name: str
    error: BaseException
    retrying: bool
    last_committed: int | None


class StoryWriter:
    """Writes stories on a background thread (see the module docstring).

    Args:
        history: Where stories go (and the in-memory summaries).
        facts: Pipeline name → its :class:`PipelineFacts` (outputs, sensitive columns).
        plans: Reads a failed batch's planned ranges (None: inputs of failures stay empty).
        last_committed: Reads where a pipeline stands, for failures before a batch number was
            known (opening, planning) that the caller could not place either.
        capacity: Stories queued at most; beyond it new ones are dropped.
        clock: Time of failures without a trace.
    """

    def __init__(
        self,
        history: StoryHistory,
        facts: Callable[[str], PipelineFacts],
        plans: PlanReader | None = None,
        last_committed: LastCommitted | None = None,
        *,
        capacity: int = 10_000,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.history = history
        self.facts = facts
        self.plans = plans
        self.last_committed = last_committed
        self.clock = clock
        self.queue: BackgroundQueue[_Committed | _Failed] = BackgroundQueue(
            "odibi-story-writer", self._write, capacity
        )
        self._attempts: dict[tuple[str, int], int] = {}
        self._since_prune: dict[str, int] = {}

    def start(self) -> None:
        """Start the writer thread."""
        self.queue.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued (up to ``timeout`` seconds), then end the thread."""
        self.queue.stop(timeout)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every story queued so far is written (tests, one-shot runs)."""
        return self.queue.flush(timeout)

    # ------------------------------------------------------------------ producers (commit path)
    def committed(self, name: str, report: BatchReport, lag: Mapping[str, Any] | None = None) -> None:
        """Queue the story of a committed batch (never blocks, never raises)."""
        self.queue.offer(_Committed(name, report, lag or {}))

    def failed(self, name: str, error: BaseException, retrying: bool, last_committed: int | None = None) -> None:
        """Queue the story of a failed attempt (never blocks, never raises)."""
        self.queue.offer(_Failed(name, error, retrying, last_committed))

    # ------------------------------------------------------------------ the writer thread
    def _write(self, item: _Committed | _Failed) -> None:
        facts = self.facts(item.name)
        if isinstance(item, _Committed):
            story = committed_story(item.report, facts, item.lag)
            self._attempts.pop((item.name, item.report.batch), None)
        else:
            story = self._failure(item, facts)
        self.history.stories.write(story)
        self.history.record(story)
        self._maybe_prune(item.name, int(story["batch"]))

    def _failure(self, item: _Failed, facts: PipelineFacts) -> dict[str, Any]:
        batch = getattr(item.error, "batch", None)
        if not isinstance(batch, int):
            last = item.last_committed
            if last is None and self.last_committed is not None:
                last = self.last_committed(item.name)
            batch = (last if last is not None else -1) + 1
        attempt = self._attempts.get((item.name, batch), 0) + 1
        self._attempts[(item.name, batch)] = attempt
        planned = None
        if self.plans is not None:
            try:
                planned = self.plans(item.name, batch)
            except Exception as exc:
                log.debug("story: planned ranges of %s batch %d unreadable: %s", item.name, batch, exc)
        return failed_story(item.error, facts, pipeline=item.name, batch=batch, retrying=item.retrying,
                            attempt=attempt, planned=planned, now=self.clock.now())

    def _maybe_prune(self, name: str, newest: int) -> None:
        count = self._since_prune.get(name, 0) + 1
        if count < max(1, self.history.stories.retain // 10):
            self._since_prune[name] = count
            return
        self._since_prune[name] = 0
        self.history.stories.prune(name, newest)
