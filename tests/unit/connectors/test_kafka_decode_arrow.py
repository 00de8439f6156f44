"""Decoding an engine's raw Kafka columns (Spark's layout) into the pandas path's columns."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa

from odibi_stream.clients.kafka import jvm_client_options
from odibi_stream.connectors.kafka_decode import decoded_from_arrow, to_table

HEADERS = pa.list_(pa.struct([("key", pa.string()), ("value", pa.binary())]))


def _spark_layout() -> pa.Table:
    # Deliberately out of order, as Spark tasks may return partitions in any order.
    ts = pa.array([2_000_000, 1_000_000, 3_000_000, 4_000_000], pa.timestamp("us", tz="America/New_York"))
    return pa.table(
        {
            "key": pa.array([b"k2", None, b"k10", b"k3"], pa.binary()),
            "value": pa.array([b'{"id": 2}', b'{"id": 1}', b"{bad", None], pa.binary()),
            "topic": ["t", "t", "t", "t"],
            "partition": pa.array([0, 0, 10, 2], pa.int32()),
            "offset": pa.array([5, 4, 0, 7], pa.int64()),
            "timestamp": ts,
            "timestampType": pa.array([0, 0, 0, 0], pa.int32()),
            "headers": pa.array([[{"key": "h", "value": b"v"}], None, [], None], HEADERS),
        }
    )


def test_raw_columns_decode_like_the_confluent_path() -> None:
    decoded = decoded_from_arrow(_spark_layout())
    # Same order as the confluent path: partition key text ("t:0" < "t:10" < "t:2"), then offset.
    assert [decoded.source(i) for i in range(4)] == ["t/0/4", "t/0/5", "t/10/0", "t/2/7"]
    table, rejects = to_table(decoded, "json", {}, "key")
    assert [r.source for r in rejects] == ["t/10/0"]
    assert rejects[0].record == "{bad"
    rows = table.to_pylist()
    assert [(r["key"], r["id"], r["_partition"], r["_offset"]) for r in rows] == [
        (None, 1, 0, 4), ("k2", 2, 0, 5), ("k3", None, 2, 7)
    ]
    assert table.schema.field("_timestamp").type == pa.timestamp("ms", tz="UTC")
    assert rows[0]["_timestamp"] == datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc)
    assert [r["_headers"] for r in rows] == [None, '{"h":"v"}', None]


def test_empty_read_gives_the_empty_table() -> None:
    table, rejects = to_table(decoded_from_arrow(_spark_layout().slice(0, 0)), "json", {}, "key")
    assert table.num_rows == 0 and rejects == []
    assert table.column_names[-5:] == ["_topic", "_partition", "_offset", "_timestamp", "_headers"]


def test_jvm_options_drop_librdkafka_only_and_forbidden_keys() -> None:
    conf = jvm_client_options(
        {"bootstrap.servers": "b:9092", "group.id": "g", "enable.auto.commit": False, "security.protocol": "SASL_SSL"}
    )
    assert conf == {"bootstrap.servers": "b:9092", "security.protocol": "SASL_SSL", "isolation.level": "read_committed"}


def test_keys_that_are_not_utf8_are_replaced_not_refused() -> None:
    table = _spark_layout().set_column(0, "key", pa.array([b"k\xff", None, b"ok", b"\xfe"], pa.binary()))
    decoded = decoded_from_arrow(table)
    assert decoded.keys == [None, "k\ufffd", "ok", "\ufffd"]  # in (partition key, offset) order
