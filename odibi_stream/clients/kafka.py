"""Shared confluent-kafka plumbing for the Kafka source, sink and trigger.

Client settings come from the *connection* (``bootstrap.servers``, ``security.protocol``,
``sasl.*``, ``ssl.*``...) and pass through to librdkafka unchanged; a node may add more under
``options.client``. They are never logged except through :func:`safe_config`.

Azure Event Hubs' Kafka endpoint works with the same code, e.g.::

    connections:
      hub:
        type: kafka
        options:
          bootstrap.servers: mynamespace.servicebus.windows.net:9093
          security.protocol: SASL_SSL
          sasl.mechanism: PLAIN
          sasl.username: $ConnectionString
          sasl.password: ${secret:EH_CONN}

Partitions are named ``"<topic>:<partition>"`` in every persisted position (topic names cannot
contain ``:``).

confluent-kafka (the ``kafka`` extra) is imported only by the functions that talk to a broker,
so validating a Kafka pipeline works, and reports the missing extra, without it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from odibi_stream.core.redact import redact, redact_mapping
from odibi_stream.exceptions import ConfigError, ConnectorError

if TYPE_CHECKING:
    from confluent_kafka import Consumer

CLIENT_LOG = logging.getLogger("odibi_stream.kafka.client")
"""Where librdkafka's own log lines go (drained and rate-limited by ``clients.kafka_logs``)."""

METADATA_TIMEOUT = 10.0
"""Seconds a metadata or watermark query may take before the broker counts as unreachable."""


def client_config(connection_options: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge connection options and node-level ``options.client`` into a librdkafka config.

    Raises:
        ConfigError: ``bootstrap.servers`` is missing.
    """
    conf: dict[str, Any] = {str(k): v for k, v in connection_options.items()}
    conf.update({str(k): v for k, v in (extra or {}).items()})
    # librdkafka's own log lines (connection refused...) go through Python logging, where the
    # project's filters redact them, instead of straight to stderr; long-lived clients are
    # built by ``clients.kafka_logs`` so the lines are drained as they happen.
    conf.setdefault("logger", CLIENT_LOG)
    if not conf.get("bootstrap.servers"):
        raise ConfigError(
            "kafka connection has no 'bootstrap.servers'",
            hint="add options: {bootstrap.servers: host:port} to the connection in odibi.yaml",
        )
    return conf


# Settings Spark's Kafka source rejects or that only librdkafka understands.
_NOT_FOR_JVM = frozenset(
    {"logger", "group.id", "auto.offset.reset", "enable.auto.commit", "key.deserializer", "value.deserializer",
     "interceptor.classes", "isolation.level", "enable.partition.eof", "enable.auto.offset.store"}
)


def jvm_client_options(connection_options: Mapping[str, Any]) -> dict[str, Any]:
    """Connection settings for a JVM Kafka client (Spark's Kafka source), read-committed.

    librdkafka-only keys and keys Spark's source refuses are dropped; the rest pass through.
    """
    conf = {
        str(k): v for k, v in connection_options.items()
        if k not in _NOT_FOR_JVM and isinstance(v, (str, int, float, bool))
    }
    conf["isolation.level"] = "read_committed"
    return conf


def safe_config(conf: Mapping[str, Any]) -> dict[str, Any]:
    """``conf`` with credentials masked, for logs and error messages."""
    return redact_mapping(conf)


def partition_key(topic: str, partition: int) -> str:
    """The persisted name of a partition: ``topic:partition``."""
    return f"{topic}:{partition}"


def split_key(key: str) -> tuple[str, int]:
    """Inverse of :func:`partition_key`."""
    topic, _, part = key.rpartition(":")
    return topic, int(part)


def parse_topics(topic: str | None, pattern: str | None) -> tuple[list[str], re.Pattern[str] | None]:
    """Validate the topic selection of a node: a comma list of topics or a regex pattern.

    Raises:
        ConfigError: neither or both given, or an invalid regex.
    """
    topics = [t.strip() for t in (topic or "").split(",") if t.strip()]
    if bool(topics) == bool(pattern):
        raise ConfigError(
            "a kafka read needs exactly one of 'topic' (comma list allowed) or 'options.pattern'",
            hint="e.g. topic: orders  or  options: {pattern: 'orders-.*'}",
        )
    if pattern:
        try:
            return [], re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"options.pattern is not a valid regex: {exc}") from exc
    return topics, None


def list_partitions(
    consumer: Consumer, topics: list[str], pattern: re.Pattern[str] | None, timeout: float = METADATA_TIMEOUT
) -> list[tuple[str, int]]:
    """Current (topic, partition) pairs of the selection, sorted; a fresh metadata query.

    Topics that do not exist (yet) contribute no partitions. Internal topics (``__*``) never
    match a pattern.

    Raises:
        ConnectorError: the broker did not answer (retryable).
    """
    from confluent_kafka import KafkaException

    try:
        meta = consumer.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise to_connector_error(exc, "list kafka topics") from exc
    names = sorted(meta.topics)
    if pattern is not None:
        chosen = [t for t in names if not t.startswith("__") and pattern.fullmatch(t)]
    else:
        chosen = [t for t in topics if t in meta.topics and meta.topics[t].error is None]
    return sorted((t, p) for t in chosen for p in meta.topics[t].partitions)


def to_connector_error(exc: BaseException, action: str, cls: type[ConnectorError] = ConnectorError) -> ConnectorError:
    """Translate a confluent-kafka failure into our hierarchy (retry decided by type, not text).

    Transport problems, timeouts and errors librdkafka marks retriable are retryable; anything
    else (authorisation, unknown topic, fatal producer state) is terminal.
    """
    from confluent_kafka import KafkaError

    err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    retryable = True
    if err is not None:
        transient = err.code() in _transient_codes()
        retryable = bool(err.retriable() or transient) and not err.fatal()
    return cls(f"{action} failed: {redact(str(exc))}", retryable=retryable, hint=None if retryable else _HINT)


_HINT = "check the topic exists and the connection's credentials (sasl.*, ssl.*) are valid"

@functools.cache
def _transient_codes() -> frozenset[int]:
    from confluent_kafka import KafkaError

    return frozenset(
        {
            KafkaError._TRANSPORT,
            KafkaError._TIMED_OUT,
            KafkaError._ALL_BROKERS_DOWN,
            # Right after a broker restart the client's metadata may not know the partitions
            # yet: an outage still healing, not a configuration error.
            KafkaError._UNKNOWN_PARTITION,
            KafkaError._MSG_TIMED_OUT,
            KafkaError.REQUEST_TIMED_OUT,
            KafkaError.NOT_COORDINATOR,
            KafkaError.COORDINATOR_NOT_AVAILABLE,
            KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
            KafkaError.NOT_LEADER_FOR_PARTITION,
            KafkaError.LEADER_NOT_AVAILABLE,
            KafkaError.CONCURRENT_TRANSACTIONS,
            KafkaError.NETWORK_EXCEPTION,
        }
    )
