"""Alerts against a real local HTTP receiver: exact payloads, one alert per incident, recovered,
retries with backoff, never blocking, secrets redacted. Time is a manual clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import orjson
import pytest

from odibi_stream.config.alert_models import AlertRule
from odibi_stream.core.clock import ManualClock
from odibi_stream.core.redact import clear_secrets, register_secret
from odibi_stream.exceptions import BatchFailed
from odibi_stream.service.alert_delivery import AlertSender
from odibi_stream.service.alerts import AlertManager, lag_amount
from tests.http_receiver import Receiver, receiving
from tests.unit.observability.test_metrics import make_result

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
SECRET = "hunter2-very-secret"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


@pytest.fixture(autouse=True)
def _secrets() -> Iterator[None]:
    register_secret(SECRET)
    yield
    clear_secrets()


class Status:
    """What the daemon's control plane would report (the manager's StatusSource)."""

    def __init__(self) -> None:
        self.by_name: dict[str, dict[str, Any]] = {"orders": {"state": "idle", "lag": {}, "degraded": False, "last_error": None}}

    def __call__(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self.by_name.items()}


def manager(rules: list[dict[str, Any]], url: str, clock: ManualClock, status: Status | None = None) -> AlertManager:
    parsed = [AlertRule.model_validate({**r, **({} if "slack" in r or "teams" in r else {"webhook": {"url": url + "/hook"}})})
              for r in rules]
    m = AlertManager("shop", parsed, status or Status(), AlertSender(clock), clock=clock, tick_seconds=3600)
    m.start()
    return m


def bodies(receiver: Receiver, n: int) -> list[dict[str, Any]]:
    return [orjson.loads(r.body) for r in receiver.wait_for(lambda got: len(got) >= n)]


def failure(batch: int = 3) -> BatchFailed:
    return BatchFailed("orders", batch, "execute", ValueError(f"bad row, password {SECRET}"),
                       node="clean", where="pipelines/orders.yaml:12")


def test_failed_once_per_incident_then_recovered(receiver: Receiver, clock: ManualClock) -> None:
    m = manager([{"on": ["failed", "recovered"]}], receiver.url, clock)
    try:
        m.failed("orders", failure(), retrying=True)  # still retrying: not an incident yet
        m.failed("orders", failure(), retrying=False)
        m.failed("orders", failure(), retrying=False)  # same incident: no second alert
        clock.advance(90)
        m.committed("orders", make_result(batch=3))
        got = bodies(receiver, 2)
        assert m.sender.flush()
    finally:
        m.stop()
    assert len(receiver.requests) == 2
    incident = "orders/failed/20260101T000000.000000Z"
    message = "bad row, password ***"
    assert got[0] == {
        "version": 1, "kind": "alert", "event": "failed", "project": "shop", "pipeline": "orders",
        "incident": incident, "rule": None, "at": "2026-01-01T00:00:00+00:00",
        "summary": f"pipeline orders failed at batch 3 in step execute, node clean (pipelines/orders.yaml:12): ValueError: {message}",
        "batch": 3, "step": "execute", "node": "clean", "where": "pipelines/orders.yaml:12",
        "error": {"type": "ValueError", "message": message},
    }
    assert got[1] == {
        "version": 1, "kind": "alert", "event": "recovered", "project": "shop", "pipeline": "orders",
        "incident": incident, "rule": None, "at": "2026-01-01T00:01:30+00:00",
        "summary": "pipeline orders recovered from failed after 90s",
        "cleared": "failed", "open_seconds": 90.0, "batch": 3,
    }
    assert receiver.requests[0].path == "/hook"
    assert receiver.requests[0].headers["content-type"] == "application/json"
    assert SECRET.encode() not in b"".join(r.body for r in receiver.requests)


def test_lag_must_last_for_its_window_and_clears(receiver: Receiver, clock: ManualClock) -> None:
    status = Status()
    m = manager([{"name": "backlog", "on": ["lag", "recovered"], "lag": {"files": 100, "for": "5m"}}],
                receiver.url, clock, status)
    try:
        status.by_name["orders"]["lag"] = {"raw": {"files": 150, "bytes": 10}}
        m.tick()
        clock.advance(240)
        m.tick()
        status.by_name["orders"]["lag"] = {"raw": {"files": 90}}  # dips: the window restarts
        m.tick()
        status.by_name["orders"]["lag"] = {"raw": {"files": 150}}
        clock.advance(10)
        m.tick()
        clock.advance(299)
        m.tick()
        assert m.sender.flush() and receiver.requests == []
        clock.advance(1)
        m.tick()
        m.tick()  # still lagging: the same incident
        lag = bodies(receiver, 1)[0]
        status.by_name["orders"]["lag"] = {"raw": {"files": 0}}
        clock.advance(60)
        m.tick()
        recovered = bodies(receiver, 2)[1]
        assert m.sender.flush()
    finally:
        m.stop()
    assert len(receiver.requests) == 2
    assert lag == {
        "version": 1, "kind": "alert", "event": "lag", "project": "shop", "pipeline": "orders",
        "incident": "orders/lag/20260101T000910.000000Z", "rule": "backlog", "at": "2026-01-01T00:09:10+00:00",
        "summary": "pipeline orders is 150 files behind (above 100 for 5m)",
        "lag": {"raw": {"files": 150}}, "backlog": 150, "threshold": {"files": 100, "for": "5m"},
    }
    assert recovered["event"] == "recovered" and recovered["incident"] == lag["incident"]
    assert recovered["cleared"] == "lag" and recovered["open_seconds"] == 60.0


def test_stalled_is_an_sla_on_commits(receiver: Receiver, clock: ManualClock) -> None:
    status = Status()
    m = manager([{"on": ["stalled", "recovered"], "stalled": {"no_commit_for": "15m"}}], receiver.url, clock, status)
    try:
        clock.advance(14 * 60)
        m.tick()
        status.by_name["orders"]["state"] = "paused"  # an operator paused it: not stalled
        clock.advance(120)
        m.tick()
        assert m.sender.flush() and receiver.requests == []
        status.by_name["orders"]["state"] = "idle"
        m.tick()
        m.tick()
        stalled = bodies(receiver, 1)[0]
        m.committed("orders", make_result(batch=9))
        assert bodies(receiver, 2)[1]["event"] == "recovered"
        assert m.sender.flush()
    finally:
        m.stop()
    assert len(receiver.requests) == 2
    assert stalled["event"] == "stalled" and stalled["last_commit"] == "2026-01-01T00:00:00+00:00"
    assert stalled["summary"] == "pipeline orders has not committed for 960s (limit 15m); state idle"


def test_slack_and_teams_payloads(receiver: Receiver, clock: ManualClock) -> None:
    m = manager([{"on": ["failed"], "slack": {"url": receiver.url + "/slack"}},
                 {"on": ["failed"], "teams": {"url": receiver.url + "/teams"}}], receiver.url, clock)
    try:
        m.failed("orders", failure(), retrying=False)
        got = {r.path: orjson.loads(r.body) for r in receiver.wait_for(lambda g: len(g) == 2)}
    finally:
        m.stop()
    slack, teams = got["/slack"], got["/teams"]
    title = "odibi-stream: pipeline orders failed"
    assert slack["text"].startswith(f"{title}: pipeline orders failed at batch 3")
    assert [b["type"] for b in slack["blocks"]] == ["header", "section", "section", "context"]
    assert slack["blocks"][0]["text"] == {"type": "plain_text", "text": title}
    assert "*Where:* pipelines/orders.yaml:12" in slack["blocks"][2]["text"]["text"]
    [attachment] = teams["attachments"]
    assert teams["type"] == "message" and attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts == {"Project": "shop", "Pipeline": "orders", "Event": "failed", "Batch": "3", "Step": "execute",
                     "Node": "clean", "Where": "pipelines/orders.yaml:12",
                     "Incident": "orders/failed/20260101T000000.000000Z"}
    assert SECRET not in str(got)


def test_delivery_retries_with_backoff_then_gives_up_on_client_errors(clock: ManualClock) -> None:
    rule = AlertRule.model_validate({"on": ["failed"], "max_attempts": 4, "webhook": {"url": "http://x"}})
    with receiving([500, 503]) as flaky, receiving([404]) as wrong:
        sender = AlertSender(clock)
        sender.start()
        try:
            m = AlertManager("shop", [rule.model_copy(update={"webhook": rule.webhook.model_copy(update={"url": flaky.url})}),
                                      rule.model_copy(update={"webhook": rule.webhook.model_copy(update={"url": wrong.url})})],
                             Status(), sender, clock=clock)
            m.failed("orders", failure(), retrying=False)
            for attempt in (1, 2):
                flaky.wait_for(lambda got, a=attempt: len(got) == a)
                deadline = time.monotonic() + 10
                while clock.waiters == 0:  # the sender is now in its backoff wait
                    assert time.monotonic() < deadline
                    time.sleep(0.001)
                clock.advance(120)
            flaky.wait_for(lambda got: len(got) == 3)
            assert sender.flush()
        finally:
            sender.stop()
    assert flaky.answered == [500, 503, 200] and wrong.answered == [404]
    assert (sender.delivered, sender.failed) == (1, 1)
    # Full jitter over 1 s, 2 s: each delay within [0.5, 1] of its step.
    first, second = clock.requested[:2]
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0


def test_alerting_never_blocks_a_batch(clock: ManualClock) -> None:
    with receiving() as slow:
        slow.gate = threading.Event()  # the endpoint hangs until released
        m = manager([{"on": ["failed", "recovered"]}], slow.url, clock)
        try:
            t0 = time.perf_counter()
            m.failed("orders", failure(), retrying=False)
            m.committed("orders", make_result())
            for batch in range(200):
                m.failed("orders", failure(batch), retrying=False)
                m.committed("orders", make_result(batch=batch))
            elapsed = time.perf_counter() - t0
            slow.gate.set()
            slow.wait_for(lambda got: len(got) == 402)
        finally:
            m.stop()
    assert elapsed < 0.5, f"{elapsed:.3f}s for 402 incident changes with a hanging endpoint"


def test_lag_amount_units_and_rule_validation() -> None:
    lag = {"raw": {"files": 3, "bytes": 900}, "events": {"t:0": 5, "t:1": 7}, "table": {"rows": 4}}
    assert (lag_amount(lag, "files"), lag_amount(lag, "records")) == (3, 16)
    with pytest.raises(ValueError, match="exactly one target"):
        AlertRule.model_validate({"on": ["failed"]})
    with pytest.raises(ValueError, match="needs a 'lag' threshold"):
        AlertRule.model_validate({"on": ["lag"], "slack": {"url": "http://x"}})
