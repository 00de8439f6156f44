"""The ``kafka`` trigger: wake a pipeline when the end offsets of its topics move.

Every ``interval`` seconds one thread asks the broker for metadata (``list_topics``, which also
reveals new partitions and new topics matching a pattern) and read-committed high watermarks
(``get_watermark_offsets``). When any end offset differs from the previous poll — or on the
first successful poll, so a restarted daemon catches up — it calls ``wake("data")``. Between
polls it waits on an Event: an idle pipeline costs one cheap round trip per interval and no CPU.
A broker outage is logged and polled again; it never stops the trigger.

Config (``trigger: {kafka: {...}}``), all optional: ``interval_seconds`` (default 1.0). The
topics and connection come from the pipeline's kafka read node.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from odibi_stream.clients.kafka import (
    METADATA_TIMEOUT,
    client_config,
    list_partitions,
    partition_key,
)
from odibi_stream.triggers.base import REASON_DATA, WakeFn

log = logging.getLogger(__name__)


class KafkaTrigger:
    """Polls end offsets of ``topics`` (or topics matching ``pattern``) and wakes on change.

    Args:
        connection_options: librdkafka settings of the connection (bootstrap, SASL...).
        topics: Topic names.
        pattern: Regex over topic names (instead of ``topics``).
        interval: Seconds between polls.
        timeout: Seconds one broker query may take (``stop`` may wait this long).
    """

    def __init__(
        self,
        connection_options: Mapping[str, Any],
        topics: list[str],
        pattern: re.Pattern[str] | None = None,
        interval: float = 1.0,
        timeout: float = METADATA_TIMEOUT,
    ) -> None:
        self.topics = topics
        self.pattern = pattern
        self.interval = interval
        self.timeout = timeout
        self._conf = {
            **client_config(connection_options),
            "group.id": "odibi-trigger",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.end_offsets: dict[str, int] = {}
        """The end offset per ``topic:partition`` seen by the latest successful poll."""

    def start(self, wake: WakeFn) -> None:
        """Start the polling thread (called once)."""
        self._thread = threading.Thread(target=self._loop, args=(wake,), name="odibi-kafka-trigger", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and join the thread (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def poll_once(self, consumer: Consumer) -> dict[str, int]:
        """End offsets per partition now (read-committed high watermarks).

        Raises:
            KafkaException: the broker did not answer.
        """
        ends: dict[str, int] = {}
        for topic, part in list_partitions(consumer, self.topics, self.pattern, self.timeout):
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, part), timeout=self.timeout, cached=False)
            ends[partition_key(topic, part)] = int(high)
        return ends

    def _loop(self, wake: WakeFn) -> None:
        consumer = Consumer(self._conf)
        first = True
        try:
            while not self._stop.is_set():
                try:
                    ends = self.poll_once(consumer)
                except Exception as exc:  # outages must not kill the trigger
                    log.warning("kafka trigger: polling end offsets failed (will retry): %s", exc)
                else:
                    if first or ends != self.end_offsets:
                        self.end_offsets = ends
                        first = False
                        wake(REASON_DATA)
                self._stop.wait(self.interval)
        finally:
            consumer.close()
