"""Delivering alerts: HTTP POST with retries and backoff, on one background thread.

Lifecycle contract: the alert manager builds one :class:`AlertSender`, starts it with the
daemon and stops it at shutdown (queued alerts get ``stop``'s timeout, then are dropped with a
log line). :meth:`AlertSender.send` only queues. The thread POSTs each alert to its rule's
target, in order; a failed attempt (connection error, timeout, HTTP 408/429/5xx) is retried with
exponential backoff and jitter up to the rule's ``max_attempts``; other HTTP errors are final.
Target URLs embed secrets (Slack/Teams webhook tokens), so logs name only the rule, the target
kind and the host.
"""

from __future__ import annotations

import logging
import random
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from odibi_stream.config.alert_models import AlertRule
from odibi_stream.core.clock import SYSTEM_CLOCK, Clock
from odibi_stream.core.redact import redact
from odibi_stream.observability.alert_payloads import Alert, payload
from odibi_stream.service.background import BackgroundQueue

log = logging.getLogger(__name__)

BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
_RETRY_STATUS = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Delivery:
    """One alert for one rule."""

    rule: AlertRule
    alert: Alert


class AlertSender:
    """POSTs alerts with retries (see the module docstring).

    Args:
        clock: Where backoff waits happen (a manual clock in tests).
        backoff_base: First retry delay in seconds (doubles each attempt, capped).
    """

    def __init__(self, clock: Clock = SYSTEM_CLOCK, backoff_base: float = BACKOFF_BASE) -> None:
        self.clock = clock
        self.backoff_base = backoff_base
        self.delivered = 0
        self.failed = 0
        self._stopping = threading.Event()
        self.queue: BackgroundQueue[Delivery] = BackgroundQueue("odibi-alerts", self._deliver, 1000)

    def start(self) -> None:
        """Start the delivery thread."""
        self.queue.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Try what is queued once more each (no more backoff waits), then stop."""
        self._stopping.set()
        self.queue.stop(timeout)

    def send(self, rule: AlertRule, alert: Alert) -> None:
        """Queue ``alert`` for ``rule``'s target (never blocks)."""
        self.queue.offer(Delivery(rule, alert))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far was delivered or given up (tests)."""
        return self.queue.flush(timeout)

    # ------------------------------------------------------------------ the delivery thread
    def _deliver(self, item: Delivery) -> None:
        rule = item.rule
        body = orjson.dumps(payload(item.alert, rule.target))
        headers = {"Content-Type": "application/json", "User-Agent": "odibi-stream-alerts"}
        if rule.webhook is not None:
            headers.update(rule.webhook.headers)
        label = f"alert {item.alert.event} of {item.alert.pipeline} to {rule.target} {_host(rule.url)}"
        for attempt in range(1, rule.max_attempts + 1):
            retry, problem = self._post(rule.url, body, headers, rule.timeout_seconds)
            if problem is None:
                self.delivered += 1
                log.info("%s delivered (attempt %d)", label, attempt)
                return
            if not retry or attempt == rule.max_attempts or self._stopping.is_set():
                break
            delay = min(BACKOFF_CAP, self.backoff_base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            log.warning("%s failed (attempt %d, retrying in %.1fs): %s", label, attempt, delay, problem)
            if self.clock.wait(self._stopping, delay):
                break
        self.failed += 1
        log.error("%s given up: %s", label, problem)

    @staticmethod
    def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[bool, str | None]:
        """One attempt: (retryable, problem or None on success)."""
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
                return False, None
        except urllib.error.HTTPError as exc:
            return exc.code >= 500 or exc.code in _RETRY_STATUS, f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return True, redact(f"{type(exc).__name__}: {reason}")


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")
