"""The README's Azure Event Hubs Kafka-endpoint recipe, for real, against a SASL_SSL listener.

A broker of the test's own (``scripts/kafka-local.sh`` with ``KAFKA_SASL_SSL=1``) listens the
way Event Hubs' Kafka endpoint does: TLS with a certificate (self-signed here, so the client
adds ``ssl.ca.location``), SASL PLAIN, user ``$ConnectionString``, password a connection
string. A ``format: kafka`` pipeline reads and writes through that listener with exactly the
documented client settings (the password from ``${secret:EH_CONNECTION}``), via
``odibi-stream run``; every record lands in the output topic exactly once, across two runs,
and the connection string appears in no output and no checkpoint file.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import CLI, cli_env, write_project
from tests.kafka_fixtures import LocalBroker

pytestmark = pytest.mark.timeout(300)


class EventHubsStyleBroker(LocalBroker):
    """A broker instance with the SASL_SSL listener (Event Hubs' Kafka endpoint settings)."""

    def _env(self) -> dict[str, str]:
        env = super()._env()
        env["KAFKA_SASL_SSL"] = "1"
        return env

    def sasl_info(self) -> dict[str, str]:
        """bootstrap, ca, username and password_file of the SASL_SSL listener."""
        lines = self._run("sasl-info").splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The SASL_SSL endpoint: client settings as Event Hubs documents them, plus the CA."""
    if os.environ.get("KAFKA_BOOTSTRAP"):
        pytest.skip("an external broker (KAFKA_BOOTSTRAP) cannot be given a SASL_SSL listener")
    broker = EventHubsStyleBroker(Path(tmp_path_factory.mktemp("kafka-eventhubs")))
    broker.start_broker()
    try:
        info = broker.sasl_info()
        connection_string = Path(info["password_file"]).read_text()
        client = {
            "bootstrap.servers": info["bootstrap"],
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "$ConnectionString",
            "sasl.password": connection_string,
            "ssl.ca.location": info["ca"],
        }
        yield {"client": client, "connection_string": connection_string, "ca": info["ca"]}
    finally:
        broker.reset()


def _create_topics(client: dict[str, Any], *topics: str) -> None:
    admin = AdminClient(client)
    for future in admin.create_topics([NewTopic(t, 3, 1) for t in topics]).values():
        future.result(60)


def _produce(client: dict[str, Any], topic: str, ids: range) -> None:
    producer = Producer({**client, "acks": "all"})
    for i in ids:
        producer.produce(topic, orjson.dumps({"id": i, "name": f"n{i}"}), partition=i % 3)
    assert producer.flush(60) == 0


def _committed_ids(client: dict[str, Any], topic: str, timeout: float = 60) -> list[int]:
    """Ids of every record a read_committed consumer sees in ``topic``, up to its end."""
    consumer = Consumer(
        {**client, "group.id": f"check-{uuid.uuid4().hex}", "isolation.level": "read_committed",
         "enable.partition.eof": True, "enable.auto.commit": False}
    )
    try:
        parts = [TopicPartition(topic, p, 0) for p in range(3)]
        consumer.assign(parts)
        pending, ids = {0, 1, 2}, list[int]()
        deadline = time.monotonic() + timeout
        while pending:
            assert time.monotonic() < deadline, f"partitions {pending} of {topic} did not reach their end"
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(msg.partition())
                    continue
                ids.append(int(msg.key() or b"-1"))
        return sorted(ids)
    finally:
        consumer.close()


def _project(root: Path, bootstrap: str, ca: str, in_topic: str, out_topic: str) -> Path:
    odibi_yaml = f"""\
        project: eventhubs_kafka
        checkpoint: {{root: ./checkpoints}}
        connections:
          hub:
            type: kafka
            options:
              bootstrap.servers: "{bootstrap}"
              security.protocol: SASL_SSL
              sasl.mechanism: PLAIN
              sasl.username: $ConnectionString
              sasl.password: ${{secret:EH_CONNECTION}}
              ssl.ca.location: "{ca}"
        """
    pipeline = f"""\
        pipeline: eh
        trigger: {{kafka: {{interval_seconds: 0.2}}}}
        nodes:
          - name: events
            read:
              connection: hub
              format: kafka
              topic: {in_topic}
              options: {{value_format: json, starting: earliest}}
              incremental: {{mode: offsets, max_records_per_batch: 70}}
          - name: out
            depends_on: [events]
            transform: {{sql: "SELECT id, name FROM events"}}
            write: {{connection: hub, format: kafka, topic: {out_topic}, options: {{key_column: id}}}}
        """
    return write_project(root, {"eh": textwrap.dedent(pipeline)}, odibi_yaml=textwrap.dedent(odibi_yaml))


def _run(project: Path, connection_string: str) -> str:
    env = cli_env()
    env["EH_CONNECTION"] = connection_string
    done = subprocess.run(
        [*CLI, "run", str(project), "--pipeline", "eh"], env=env, capture_output=True, text=True, timeout=240
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return output


def test_kafka_pipeline_through_the_event_hubs_client_settings(tmp_path: Path, endpoint: dict[str, Any]) -> None:
    client = endpoint["client"]
    in_topic, out_topic = f"in-{uuid.uuid4().hex[:8]}", f"out-{uuid.uuid4().hex[:8]}"
    _create_topics(client, in_topic, out_topic)
    _produce(client, in_topic, range(150))
    project = _project(tmp_path / "p", client["bootstrap.servers"], endpoint["ca"], in_topic, out_topic)

    first = _run(project, endpoint["connection_string"])
    assert _committed_ids(client, out_topic) == list(range(150))

    _produce(client, in_topic, range(150, 210))
    second = _run(project, endpoint["connection_string"])
    assert _committed_ids(client, out_topic) == list(range(210))  # each record once

    key = endpoint["connection_string"].split("SharedAccessKey=", 1)[1]
    for text in (first, second):
        assert key not in text
    for path in (project / "checkpoints").rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), f"the connection string leaked into {path}"


def test_the_listener_insists_on_tls_and_the_connection_string(endpoint: dict[str, Any]) -> None:
    good = endpoint["client"]
    assert AdminClient(good).list_topics(timeout=30).orig_broker_name
    wrong_password = {**good, "sasl.password": "Endpoint=sb://localhost/;SharedAccessKeyName=x;SharedAccessKey=bad"}
    untrusted = {k: v for k, v in good.items() if k != "ssl.ca.location"}  # the CA is self-signed
    for bad in (wrong_password, untrusted):
        with pytest.raises(KafkaException):
            AdminClient({**bad, "log_level": 0}).list_topics(timeout=5)
