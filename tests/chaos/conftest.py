"""Chaos tests use the real Kafka broker fixtures too."""

from __future__ import annotations

from tests.kafka_fixtures import kafka_bootstrap, kafka_topic

__all__ = ["kafka_bootstrap", "kafka_topic"]
