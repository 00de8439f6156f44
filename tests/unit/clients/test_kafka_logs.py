"""librdkafka's log lines reach our logging while a client sits idle (issue 17 finding 10).

A consumer pointed at a port nobody listens on is a broker outage in miniature: librdkafka
logs "Connection refused" over and over. With the old client options those lines waited in the
client's queue until someone polled it (never, for an idle metadata consumer). The test never
polls: the lines must arrive anyway, rate-limited, and ``close()`` must not race the pump.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("confluent_kafka", reason="needs the kafka extra")

from odibi_stream.clients import kafka_logs
from odibi_stream.clients.kafka import CLIENT_LOG, client_config


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def collected() -> Iterator[Collect]:
    handler = Collect()
    CLIENT_LOG.addHandler(handler)
    old = CLIENT_LOG.level
    CLIENT_LOG.setLevel(logging.DEBUG)
    yield handler
    CLIENT_LOG.removeHandler(handler)
    CLIENT_LOG.setLevel(old)


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: connections are refused


def test_idle_consumer_logs_arrive_without_anyone_polling(collected: Collect) -> None:
    conf = client_config({"bootstrap.servers": f"127.0.0.1:{dead_port()}"})
    consumer = kafka_logs.consumer({**conf, "group.id": "t", "reconnect.backoff.ms": 50})
    try:
        deadline = time.monotonic() + 20
        while not any("Connection refused" in r.getMessage() for r in collected.records):
            assert time.monotonic() < deadline, "librdkafka lines never reached our logger"
            time.sleep(0.05)
    finally:
        consumer.close()
    assert kafka_logs.PUMP.drain() >= 0  # a closed client is skipped, never polled


def test_rate_limit_passes_one_line_per_message_per_window() -> None:
    now = [0.0]
    limit = kafka_logs.RateLimit(window=60.0, burst=3, clock=lambda: now[0])

    def rec(msg: str) -> logging.LogRecord:
        return logging.LogRecord("x", logging.ERROR, __file__, 1, msg, None, None)

    assert limit.filter(rec("Connect to 10.0.0.1:9092 failed (after 0ms)"))
    assert not limit.filter(rec("Connect to 10.0.0.1:9092 failed (after 3ms)"))  # digits ignored
    assert not limit.filter(rec("Connect to 10.0.0.1:9092 failed (after 4ms)"))
    second = rec("another message")
    assert limit.filter(second)
    assert second.getMessage().endswith("(2 librdkafka lines suppressed before this one)")
    assert limit.filter(rec("third"))
    assert not limit.filter(rec("fourth"))  # burst of 3 per window
    now[0] = 61.0
    again = rec("Connect to 10.0.0.1:9092 failed (after 9ms)")
    assert limit.filter(again)  # a new window
    assert again.getMessage().endswith("(1 librdkafka lines suppressed before this one)")
