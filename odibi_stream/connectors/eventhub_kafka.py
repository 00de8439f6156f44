"""Event Hubs' Kafka endpoint without Kafka transactions: detected, and refused with a reason.

Event Hubs offers Kafka transactions only on Premium and Dedicated namespaces. On a Standard
namespace the transaction coordinator does not exist: ``FindCoordinator`` for a transactional
id is refused ("... only supported in Premium or Dedicated sku"), so librdkafka's
``init_transactions`` never completes and times out. The Kafka sink commits each batch in one
transaction — that is its exactly-once guarantee — so it does not fall back to plain
producing (which would silently turn exactly-once into at-least-once); it refuses with a
terminal error that names the cause and the two ways out: a Premium/Dedicated namespace, or
``format: eventhub`` (at-least-once on the wire, deterministic message ids for readers that
de-duplicate).

The decision is :func:`lacks_transactions`: the broker's own words when it sends them, else an
Event Hubs endpoint (a ``*.servicebus.*`` host or the ``$ConnectionString`` user) that answers
metadata requests — so it is up, not in an outage — while ``init_transactions`` timed out or
found no coordinator. Any other broker keeps the ordinary classification (a timeout there is an
outage and is retried).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from odibi_stream.exceptions import SinkError

_TIER_WORDS = ("premium or dedicated", "only supported in premium", "not supported on this tier")
_NO_COORDINATOR = frozenset(
    {
        KafkaError._TIMED_OUT,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.INVALID_REQUEST,
        KafkaError.UNSUPPORTED_VERSION,
        KafkaError.UNSUPPORTED_FOR_MESSAGE_FORMAT,
    }
)


def is_event_hubs_endpoint(conf: Mapping[str, Any]) -> bool:
    """True for client settings pointing at an Event Hubs namespace's Kafka endpoint."""
    servers = str(conf.get("bootstrap.servers", "")).lower()
    hosts = [s.strip().rsplit(":", 1)[0] for s in servers.split(",") if s.strip()]
    return (
        any(".servicebus." in h for h in hosts) or conf.get("sasl.username") == "$ConnectionString"
    )


def lacks_transactions(conf: Mapping[str, Any], exc: KafkaException, producer: Producer) -> bool:
    """Whether a failed ``init_transactions`` means the endpoint has no transactions at all."""
    err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    text = (err.str() if err is not None else str(exc)).lower()
    if any(words in text for words in _TIER_WORDS):
        return True
    if err is None or err.code() not in _NO_COORDINATOR or not is_event_hubs_endpoint(conf):
        return False
    try:  # reachable: the namespace is up, so the missing coordinator is not an outage
        producer.list_topics(timeout=10)
    except KafkaException:
        return False
    return True


def refusal(node: str, conf: Mapping[str, Any]) -> SinkError:
    """The terminal error of a Kafka sink whose endpoint has no transactions."""
    return SinkError(
        f"node {node}: the Kafka endpoint {conf.get('bootstrap.servers')} offers no Kafka "
        "transactions (Event Hubs has them on Premium and Dedicated namespaces only, not on "
        "Standard); the kafka sink writes each batch in one transaction for exactly-once and "
        "does not write without one",
        retryable=False,
        hint="use a Premium or Dedicated namespace, or write with format: eventhub "
        "(at-least-once on the wire, deterministic message ids for de-duplicating readers)",
    )
