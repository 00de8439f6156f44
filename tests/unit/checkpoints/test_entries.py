"""Checkpoint entries: JSON round trip, checksum, version and kind checks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest

from odibi_stream.checkpoints.entries import (
    CommitEntry,
    Metadata,
    OffsetsEntry,
    Snapshot,
    decode,
    encode,
)
from odibi_stream.exceptions import CheckpointCorrupt

T0 = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)

ENTRIES = [
    OffsetsEntry(
        batch=7,
        epoch=3,
        created=T0,
        sources={"orders": {"files": [["a.csv", 10, 1.5]], "end": 12.25}},
        watermarks={"orders": "2024-05-01T12:00:00+00:00"},
        config_fingerprint="abc123",
        forced=True,
    ),
    CommitEntry(
        batch=7,
        epoch=3,
        committed=T0,
        sources={"k": {"0": [5, 10], "1": [0, 3]}},
        watermarks={"k": None},
        nodes={"k": {"rows_in": 8, "rows_out": 8, "rejected": 0, "late": 0, "sink": {"v": 4}}},
        metrics={"execute": 12.5, "commit": 0.75},
    ),
    Snapshot(batch=99, states={"f": {"files": ["x"]}}, watermarks={}, extra={"n": [1, 2]}),
    Metadata(pipeline="orders", created=T0, config_fingerprint="fp"),
]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: type(e).__name__)
def test_round_trip(entry: OffsetsEntry | CommitEntry | Snapshot | Metadata) -> None:
    data = encode(entry)
    doc = orjson.loads(data)
    assert doc["version"] == 1
    assert doc["kind"] == entry.KIND
    assert len(doc["checksum"]) == 64
    assert decode(data, type(entry), "x") == entry


def test_datetimes_are_normalised_to_utc_iso() -> None:
    plus2 = timezone(timedelta(hours=2))
    entry = Metadata(
        pipeline="p", created=datetime(2024, 1, 1, 14, 0, tzinfo=plus2), config_fingerprint="f"
    )
    assert entry.created == datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert orjson.loads(encode(entry))["created"] == "2024-01-01T12:00:00+00:00"


def test_naive_datetime_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Metadata(pipeline="p", created=datetime(2024, 1, 1), config_fingerprint="f")


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: type(e).__name__)
def test_every_flipped_byte_is_detected(
    entry: OffsetsEntry | CommitEntry | Snapshot | Metadata,
) -> None:
    data = encode(entry)
    for i in range(len(data) - 1):  # the last byte is the trailing newline (whitespace)
        flipped = bytearray(data)
        flipped[i] ^= 0x01
        with pytest.raises(CheckpointCorrupt):
            decode(bytes(flipped), type(entry), "x")


def test_truncation_detected_at_every_length() -> None:
    data = encode(ENTRIES[1])
    for n in range(len(data) - 1):
        with pytest.raises(CheckpointCorrupt):
            decode(data[:n], CommitEntry, "commits/7.json")


def test_unknown_version_rejected_with_hint() -> None:
    doc = orjson.loads(encode(ENTRIES[0]))
    doc["version"] = 3
    with pytest.raises(CheckpointCorrupt, match="unknown format version 3") as info:
        decode(orjson.dumps(doc), OffsetsEntry, "offsets/7.json")
    assert info.value.hint and "upgrade" in info.value.hint


def test_wrong_kind_rejected() -> None:
    with pytest.raises(CheckpointCorrupt, match="expected a 'commit' entry"):
        decode(encode(ENTRIES[0]), CommitEntry, "commits/7.json")


def test_valid_checksum_but_bad_field_types_rejected() -> None:
    import hashlib

    body = orjson.loads(encode(ENTRIES[0]))
    del body["checksum"]
    body["batch"] = "seven"
    body["checksum"] = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    with pytest.raises(CheckpointCorrupt, match="batch is not an integer"):
        decode(orjson.dumps(body), OffsetsEntry, "offsets/7.json")


def test_unserialisable_payload_is_a_type_error() -> None:
    bad = Snapshot(batch=1, states={"x": {"s": {1, 2}}}, watermarks={})
    with pytest.raises(TypeError):
        encode(bad)
