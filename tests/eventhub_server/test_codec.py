"""The server's message codec against the SDK's own encoder and decoder (no network)."""

from __future__ import annotations

from typing import Any

from azure.eventhub._pyamqp._decode import decode_payload
from azure.eventhub._pyamqp._encode import encode_payload, encode_unknown
from azure.eventhub._pyamqp.message import BatchMessage, Header, Message, Properties
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.eventhub_server.amqp_message import (
    parse_event,
    runtime_metrics_section,
    seed_event,
    stored_payload,
    unpack_batch,
    value_end,
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**31), max_value=2**31 - 1),  # the SDK encodes Python ints as int32
    st.floats(allow_nan=False),
    st.text(max_size=300),
    st.binary(max_size=300),
    st.uuids(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)


@given(values)
@settings(max_examples=300, deadline=None)
def test_value_end_matches_the_sdk_encoding(value: Any) -> None:
    encoded = bytearray()
    encode_unknown(encoded, value)
    assert value_end(bytes(encoded), 0) == len(encoded)


app_props = st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.one_of(st.integers(-1000, 1000), st.text(max_size=40), st.booleans(), st.binary(max_size=20)),
    max_size=4,
)


def _encode(message: Message) -> bytes:
    out = bytearray()
    encode_payload(out, message)
    return bytes(out)


@given(body=st.binary(max_size=2000), props=app_props, key=st.one_of(st.none(), st.text(min_size=1, max_size=20)))
@settings(max_examples=100, deadline=None)
def test_stored_events_decode_with_their_sections_and_annotations(
    body: bytes, props: dict[str | bytes, Any], key: str | None
) -> None:
    annotations: dict[str | bytes, Any] = {b"x-custom": 7}
    if key:
        annotations[b"x-opt-partition-key"] = key
    message = Message(
        header=Header(durable=True),
        message_annotations=annotations,
        properties=Properties(message_id="m-1", content_type="application/json"),
        application_properties=dict(props) or None,
        data=[body],
    )
    event = parse_event(_encode(message))
    assert event.partition_key == key
    stored = stored_payload(event, 41, 12345, 1_700_000_000_123)
    decoded = decode_payload(memoryview(stored))
    assert decoded.data == [body]
    assert decoded.properties is not None and decoded.properties.message_id == b"m-1"
    assert decoded.header is not None and decoded.header.durable is True
    assert (decoded.application_properties or {}) == {
        str(k).encode(): v.encode() if isinstance(v, str) else v for k, v in props.items()
    }
    ann = decoded.message_annotations or {}
    assert ann[b"x-opt-sequence-number"] == 41
    assert ann[b"x-opt-offset"] == b"12345"
    assert ann[b"x-opt-enqueued-time"] == 1_700_000_000_123
    assert ann[b"x-custom"] == 7
    assert ann.get(b"x-opt-partition-key") == (key.encode() if key else None)


def test_service_assigned_annotations_from_a_producer_are_replaced() -> None:
    forwarded = Message(message_annotations={b"x-opt-sequence-number": 999, b"x-opt-offset": "5"}, data=[b"x"])
    stored = stored_payload(parse_event(_encode(forwarded)), 3, 10, 20)
    ann = decode_payload(memoryview(stored)).message_annotations or {}
    assert (ann[b"x-opt-sequence-number"], ann[b"x-opt-offset"]) == (3, b"10")


def test_batches_unpack_into_their_events() -> None:
    inner = [_encode(Message(data=[f"e{i}".encode()], message_annotations={b"x-opt-partition-key": "k"})) for i in range(3)]
    batch = _encode(BatchMessage(data=inner, message_annotations={b"x-opt-partition-key": "k"}))
    events, key = unpack_batch(batch)
    assert events == inner and key == "k"


def test_runtime_metrics_go_before_the_message_annotations() -> None:
    stored = stored_payload(seed_event(b"body", properties={"a": 1}), 0, 0, 5)
    with_metrics = runtime_metrics_section(9, "77", 5, 6) + stored
    decoded = decode_payload(memoryview(with_metrics))
    assert decoded.delivery_annotations == {
        b"last_enqueued_sequence_number": 9,
        b"last_enqueued_offset": b"77",
        b"last_enqueued_time_utc": 5,
        b"runtime_info_retrieval_time_utc": 6,
    }
    assert decoded.data == [b"body"] and decoded.application_properties == {b"a": 1}


def test_seeded_events_look_like_produced_ones() -> None:
    produced = parse_event(_encode(Message(application_properties={"a": 1}, data=[b"body"])))
    assert seed_event(b"body", properties={"a": 1}).rest == produced.rest
