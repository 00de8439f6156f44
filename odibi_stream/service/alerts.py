"""Alerts: incidents opened and cleared from batch outcomes and pipeline status, one alert each.

Conditions, per rule and pipeline (``alerts:`` in ``odibi.yaml``, see ``config.alert_models``):

* **failed** — a batch attempt failed and the pipeline gave up (state ``failed``). Clears on the
  next commit, or once the pipeline is neither failed nor retrying (an operator resumed it).
* **lag** — the backlog (files, or records: Kafka/Event Hubs offsets and column-source rows) stayed
  above the threshold for ``for``. Clears when it drops to the threshold or below.
* **stalled** — no commit for ``no_commit_for`` (counted from the daemon's start when the
  pipeline has not committed since). Paused and not-owned pipelines never stall. Clears on a commit.

An open incident is alerted once; its clearing sends one ``recovered`` (when the rule lists it).

Lifecycle contract: the daemon builds one :class:`AlertManager` when rules exist, starts it on
its ExitStack and stops it at shutdown. :meth:`committed`/:meth:`failed` are called from worker
threads (cheap: a lock and, when an incident changes, a queued delivery); :meth:`tick` is called
by the manager's own thread every ``tick_seconds`` (tests call it directly with a manual clock)
with the pipelines' status from ``status()``. Delivery is ``service.alert_delivery``'s.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from odibi_stream.config.alert_models import AlertRule
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.observability.alert_payloads import Alert
from odibi_stream.observability.story import error_detail, lag_total
from odibi_stream.runtime.report import BatchReport
from odibi_stream.service.alert_delivery import AlertSender

log = logging.getLogger(__name__)

StatusSource = Callable[[], Mapping[str, Mapping[str, Any]]]
"""Pipeline name → its control-plane description (state, lag, degraded, last_error …)."""

_IDLE_STATES = ("paused", "waiting_lease")


@dataclass
class _Incident:
    id: str
    opened: datetime


def lag_amount(lag: Mapping[str, Any], unit: str) -> int:
    """A pipeline's backlog in ``unit`` (``files`` or ``records``) from its per-source lag."""
    if unit == "files":
        return sum(int(v.get("files", 0)) for v in lag.values() if isinstance(v, Mapping))
    return lag_total({k: {u: n for u, n in v.items() if u != "files"} for k, v in lag.items() if isinstance(v, Mapping)})


class AlertManager:
    """Tracks incidents and sends alerts (see the module docstring).

    Args:
        project: Project name (in every alert).
        rules: The ``alerts:`` rules.
        status: Where :meth:`tick` reads pipeline status from.
        sender: Delivery (started and stopped with this manager).
        clock: Where time comes from.
        tick_seconds: How often the manager's thread evaluates lag and stalls.
    """

    def __init__(
        self,
        project: str,
        rules: list[AlertRule],
        status: StatusSource,
        sender: AlertSender | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        tick_seconds: float = 5.0,
    ) -> None:
        self.project = project
        self.rules = rules
        self.status = status
        self.clock = clock
        self.sender = sender or AlertSender(clock)
        self.tick_seconds = tick_seconds
        self.started = clock.now()
        self._open: dict[tuple[int, str, str], _Incident] = {}
        self._above: dict[tuple[int, str], datetime] = {}
        self._last_commit: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="odibi-alert-ticks", daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start delivery and the periodic evaluation."""
        self.sender.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop evaluating, then deliver what is queued (bounded) and stop delivery."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.sender.stop()

    def _loop(self) -> None:
        while not self.clock.wait(self._stop, self.tick_seconds):
            try:
                self.tick()
            except Exception:
                log.exception("alert evaluation failed")

    # ------------------------------------------------------------------ events (worker threads)
    def committed(self, name: str, report: BatchReport) -> None:
        """A batch of ``name`` committed: failed and stalled incidents clear."""
        now = self.clock.now()
        with self._lock:
            self._last_commit[name] = now
            for index, rule in self._rules(name):
                for kind in ("failed", "stalled"):
                    self._clear(index, rule, name, kind, now, {"batch": report.batch})

    def failed(self, name: str, error: BaseException, retrying: bool) -> None:
        """A batch attempt of ``name`` failed; when the pipeline gave up, a failed incident opens."""
        if retrying:
            return
        now = self.clock.now()
        detail = error_detail(error, retrying)
        batch = getattr(error, "batch", None)
        at = ", ".join(f"{k} {detail[k]}" for k in ("step", "node") if detail.get(k))
        where = f" ({detail['where']})" if detail.get("where") else ""
        summary = (f"pipeline {name} failed" + (f" at batch {batch}" if batch is not None else "")
                   + (f" in {at}" if at else "") + f"{where}: {detail['type']}: {detail['message']}")
        facts = {"batch": batch, "step": detail["step"], "node": detail["node"], "where": detail["where"],
                 "error": {"type": detail["type"], "message": detail["message"]}}
        with self._lock:
            for index, rule in self._rules(name):
                if "failed" in rule.on:
                    self._raise(index, rule, name, "failed", now, summary, facts)

    # ------------------------------------------------------------------ periodic evaluation
    def tick(self) -> None:
        """Evaluate lag and stalled conditions (and failed incidents cleared by a resume)."""
        now = self.clock.now()
        statuses = self.status()
        with self._lock:
            for name, status in statuses.items():
                for index, rule in self._rules(name):
                    self._tick_one(index, rule, name, status, now)

    def _tick_one(self, index: int, rule: AlertRule, name: str, status: Mapping[str, Any], now: datetime) -> None:
        state = status.get("state")
        if state != "failed" and not status.get("degraded") and not status.get("last_error"):
            self._clear(index, rule, name, "failed", now, {})
        if rule.lag is not None:
            self._lag(index, rule, name, status.get("lag") or {}, now)
        if rule.stalled is not None and state not in _IDLE_STATES:
            last = self._last_commit.get(name, self.started)
            idle = (now - last).total_seconds()
            if idle >= rule.stalled.seconds and "stalled" in rule.on:
                summary = (f"pipeline {name} has not committed for {int(idle)}s "
                           f"(limit {rule.stalled.no_commit_for}); state {state}")
                facts = {"last_commit": last.isoformat(), "threshold": {"no_commit_for": rule.stalled.no_commit_for},
                         "state": state, "last_error": status.get("last_error")}
                self._raise(index, rule, name, "stalled", now, summary, facts)

    def _lag(self, index: int, rule: AlertRule, name: str, lag: Mapping[str, Any], now: datetime) -> None:
        assert rule.lag is not None
        amount = lag_amount(lag, rule.lag.unit)
        if amount <= rule.lag.limit:
            self._above.pop((index, name), None)
            self._clear(index, rule, name, "lag", now, {"lag": dict(lag)})
            return
        since = self._above.setdefault((index, name), now)
        if (now - since).total_seconds() >= rule.lag.seconds and "lag" in rule.on:
            summary = (f"pipeline {name} is {amount} {rule.lag.unit} behind "
                       f"(above {rule.lag.limit} for {rule.lag.for_})")
            facts = {"lag": dict(lag), "backlog": amount,
                     "threshold": {rule.lag.unit: rule.lag.limit, "for": rule.lag.for_}}
            self._raise(index, rule, name, "lag", now, summary, facts)

    # ------------------------------------------------------------------ incidents (under the lock)
    def _rules(self, name: str) -> list[tuple[int, AlertRule]]:
        return [(i, r) for i, r in enumerate(self.rules) if r.watches(name)]

    def _raise(self, index: int, rule: AlertRule, name: str, kind: str, now: datetime,
               summary: str, facts: dict[str, Any]) -> None:
        key = (index, name, kind)
        if key in self._open:
            return  # one alert per incident
        incident = _Incident(f"{name}/{kind}/{now.strftime('%Y%m%dT%H%M%S.%fZ')}", now)
        self._open[key] = incident
        log.warning("alert: %s", summary)
        self.sender.send(rule, Alert(kind, self.project, name, incident.id, now, summary, rule.name, facts))

    def _clear(self, index: int, rule: AlertRule, name: str, kind: str, now: datetime, facts: dict[str, Any]) -> None:
        incident = self._open.pop((index, name, kind), None)
        if incident is None:
            return
        seconds = round((now - incident.opened).total_seconds(), 3)
        summary = f"pipeline {name} recovered from {kind} after {seconds:g}s"
        log.info("alert cleared: %s", summary)
        if "recovered" in rule.on:
            detail = {"cleared": kind, "open_seconds": seconds, **facts}
            self.sender.send(rule, Alert("recovered", self.project, name, incident.id, now, summary, rule.name, detail))

    def open_incidents(self) -> list[str]:
        """Ids of the open incidents (tests, the console)."""
        with self._lock:
            return sorted(i.id for i in self._open.values())
