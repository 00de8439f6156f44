"""The Kafka source's wake-up probe: read-committed end offsets of its topics.

Each poll asks the broker for metadata (``list_topics``, which also reveals new partitions and
new topics matching a pattern) and the read-committed high watermark of every partition. The
polling trigger wakes the pipeline when the answer changes (and once on start, so a restarted
daemon catches up). One consumer per probe, created on open and closed on close.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from odibi_stream.clients import kafka_logs
from odibi_stream.clients.kafka import (
    METADATA_TIMEOUT,
    client_config,
    list_partitions,
    partition_key,
)


class KafkaEndsProbe:
    """A :class:`~odibi_stream.core.wake.Probe` over Kafka end offsets.

    Args:
        connection_options: librdkafka settings of the connection (bootstrap, SASL...).
        topics: Topic names.
        pattern: Regex over topic names (instead of ``topics``).
        timeout: Seconds one broker query may take.
    """

    def __init__(
        self,
        connection_options: Mapping[str, Any],
        topics: list[str],
        pattern: re.Pattern[str] | None = None,
        timeout: float = METADATA_TIMEOUT,
    ) -> None:
        self.topics = topics
        self.pattern = pattern
        self.timeout = timeout
        conf = {
            **client_config(connection_options),
            "group.id": "odibi-trigger",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
        self._consumer: Consumer | None = kafka_logs.consumer(conf)  # logs drained while idle

    def positions(self) -> tuple[tuple[str, int], ...]:
        """End offset per ``topic:partition``, sorted (raises KafkaException/ConnectorError on outages)."""
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("probe is closed")
        ends: list[tuple[str, int]] = []
        for topic, part in list_partitions(consumer, self.topics, self.pattern, self.timeout):
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, part), timeout=self.timeout, cached=False)
            ends.append((partition_key(topic, part), int(high)))
        return tuple(ends)

    def close(self) -> None:
        """Close the consumer (idempotent)."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()
