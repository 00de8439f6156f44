"""Kafka integration tests run against a real broker (see tests/kafka_fixtures.py)."""

from __future__ import annotations

from tests.kafka_fixtures import kafka_bootstrap, kafka_topic

__all__ = ["kafka_bootstrap", "kafka_topic"]
