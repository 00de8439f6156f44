"""The Kafka sink on an Event Hubs Kafka endpoint without transactions (a Standard namespace).

A broker of the test's own listens the way Event Hubs' Kafka endpoint does (SASL_SSL, PLAIN,
``$ConnectionString``) and, like a Standard namespace, has no transaction coordinator
(``KAFKA_NO_TRANSACTIONS=1``: its transaction state topic cannot be created on one broker), so
``init_transactions`` never completes. The sink must refuse with a terminal, explanatory error
rather than write without its exactly-once guarantee; the same failure against a broker that
does not look like Event Hubs keeps the ordinary classification (retryable: an outage); and a
``format: kafka`` pipeline writing there stops with that message, leaving nothing written.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from odibi_stream.config.models import WriteConfig
from odibi_stream.connectors.base import BatchKey
from odibi_stream.connectors.kafka import KafkaSinkSpec
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import SinkError, is_retryable
from tests.conftest import CLI, cli_env, write_project
from tests.kafka_fixtures import LocalBroker

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


class StandardTierBroker(LocalBroker):
    """SASL_SSL like Event Hubs' Kafka endpoint, and no transaction coordinator (Standard)."""

    def _env(self) -> dict[str, str]:
        return {**super()._env(), "KAFKA_SASL_SSL": "1", "KAFKA_NO_TRANSACTIONS": "1"}

    def sasl_info(self) -> dict[str, str]:
        lines = self._run("sasl-info").splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)


@pytest.fixture(scope="module")
def standard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if os.environ.get("KAFKA_BOOTSTRAP"):
        pytest.skip("an external broker (KAFKA_BOOTSTRAP) cannot be given these settings")
    broker = StandardTierBroker(Path(tmp_path_factory.mktemp("kafka-standard")))
    plaintext = broker.start_broker()
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
        yield {
            "client": client,
            "plaintext": plaintext,
            "connection_string": connection_string,
            "ca": info["ca"],
        }
    finally:
        broker.reset()


def _topic(client: dict[str, Any]) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(client)  # kept alive until the creation finished
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(60)
    return name


def _count(client: dict[str, Any], topic: str) -> int:
    consumer = Consumer(
        {**client, "group.id": f"c-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
        return int(high)
    finally:
        consumer.close()


def test_the_sink_refuses_instead_of_losing_exactly_once(standard: dict[str, Any]) -> None:
    client = standard["client"]
    topic = _topic(client)
    write = WriteConfig(
        connection="hub", format="kafka", topic=topic, options={"transaction_timeout_ms": 6000}
    )
    sink = KafkaSinkSpec("out", "p", client, write).open()
    try:
        with pytest.raises(SinkError) as refused:
            sink.write(PandasEngine(), pa.table({"id": [1, 2]}), BatchKey("p", "out", 0))
    finally:
        sink.close()
    assert not is_retryable(refused.value)
    assert "offers no Kafka transactions" in str(refused.value) and "Premium and Dedicated" in str(
        refused.value
    )
    assert "format: eventhub" in (refused.value.hint or "")
    assert standard["connection_string"].split("SharedAccessKey=")[1] not in str(refused.value)
    assert _count(client, topic) == 0  # nothing written without the transaction

    # The same broker reached as plain Kafka: a timed-out init stays an (retryable) outage.
    plain = KafkaSinkSpec("out", "p", {"bootstrap.servers": standard["plaintext"]}, write).open()
    try:
        with pytest.raises(SinkError) as timed_out:
            plain.write(PandasEngine(), pa.table({"id": [1]}), BatchKey("p", "out", 0))
    finally:
        plain.close()
    assert is_retryable(timed_out.value) and "offers no Kafka transactions" not in str(
        timed_out.value
    )


def test_a_pipeline_writing_there_stops_with_the_reason(
    tmp_path: Path, standard: dict[str, Any]
) -> None:
    client = standard["client"]
    in_topic, out_topic = _topic(client), _topic(client)
    producer = Producer(client)
    for i in range(5):
        producer.produce(in_topic, orjson.dumps({"id": i}))
    assert producer.flush(60) == 0
    odibi_yaml = f"""\
        project: standard
        checkpoint: {{root: ./checkpoints}}
        connections:
          hub:
            type: kafka
            options:
              bootstrap.servers: "{client["bootstrap.servers"]}"
              security.protocol: SASL_SSL
              sasl.mechanism: PLAIN
              sasl.username: $ConnectionString
              sasl.password: ${{secret:EH_CONNECTION}}
              ssl.ca.location: "{standard["ca"]}"
        """
    pipeline = f"""\
        pipeline: eh
        trigger: {{kafka: {{}}}}
        nodes:
          - name: events
            read: {{connection: hub, format: kafka, topic: {in_topic}, options: {{starting: earliest}}}}
            write: {{connection: hub, format: kafka, topic: {out_topic}, options: {{transaction_timeout_ms: 6000}}}}
        """
    project = write_project(
        tmp_path / "p", {"eh": textwrap.dedent(pipeline)}, odibi_yaml=textwrap.dedent(odibi_yaml)
    )
    env = {**cli_env(), "EH_CONNECTION": standard["connection_string"]}
    done = subprocess.run(
        [*CLI, "run", str(project), "--pipeline", "eh"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "offers no Kafka transactions" in output and "Traceback" not in output
    assert standard["connection_string"].split("SharedAccessKey=")[1] not in output
    assert _count(client, out_topic) == 0
