"""Merge strategies through the Delta sink on the pandas engine, against the reference model.

Every write goes through ``write_delta_idempotent`` (the sink's one path): config model →
schema policy → planned merge → one delta-rs commit with the batch's transaction.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from odibi_stream.config.models import WriteConfig
from odibi_stream.connectors.base import BatchKey
from odibi_stream.connectors.delta import write_delta_idempotent
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import ConfigError
from tests.cdc_model import Event, expected_scd2, expected_upsert

ENGINE = PandasEngine()
T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
SCHEMA = pa.schema([("id", pa.int64()), ("seq", pa.int64()), ("op", pa.string()), ("name", pa.string()), ("amount", pa.float64())])


def _write(uri: Path, merge: dict[str, Any], rows: list[Event], batch: int) -> dict[str, Any]:
    write = WriteConfig.model_validate(
        {"connection": "c", "format": "delta", "path": "t", "mode": "merge", "merge": merge}
    )
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    key = BatchKey("p", "n", batch, planned=T0 + timedelta(minutes=batch))
    result = write_delta_idempotent(ENGINE, table, str(uri), write, {}, key)
    return {"skipped": result.skipped, **result.detail}


def _rows(uri: Path) -> list[dict[str, Any]]:
    return DeltaTable(str(uri)).to_pyarrow_table().to_pylist()


def _random_batches(seed: int, n_batches: int = 6, size: int = 40, keys: int = 12) -> list[list[Event]]:
    rng = random.Random(seed)
    out = []
    for b in range(n_batches):
        batch = []
        for _ in range(size):
            k = rng.randrange(keys)
            seq = rng.choice([None, *range(b * 10, b * 10 + 25)]) if rng.random() < 0.05 else rng.randrange(b * 10, b * 10 + 25)
            batch.append({"id": k, "seq": seq, "op": rng.choice("IUUD"), "name": f"v{rng.randrange(5)}", "amount": float(rng.randrange(3))})
        out.append(batch)
    return out


CDC = {"keys": ["id"], "sequence_by": "seq", "deletes": {"column": "op", "value": "D"}}


@pytest.mark.parametrize("seed", range(4))
def test_upsert_with_sequence_and_hard_deletes_matches_the_model(tmp_path: Path, seed: int) -> None:
    batches = _random_batches(seed)
    for i, batch in enumerate(batches):
        _write(tmp_path / "t", {**CDC, "strategy": "upsert"}, batch, i)
    got = {r["id"]: {k: r[k] for k in ("id", "seq", "name", "amount")} for r in _rows(tmp_path / "t")}
    assert got == expected_upsert(batches)


@pytest.mark.parametrize("seed", range(3))
def test_upsert_with_soft_deletes_matches_the_model(tmp_path: Path, seed: int) -> None:
    batches = _random_batches(seed + 10)
    soft = {**CDC, "deletes": {"column": "op", "value": "D", "mode": "soft"}}
    for i, batch in enumerate(batches):
        _write(tmp_path / "t", soft, batch, i)
    want = expected_upsert(batches, soft=True)
    got = {r["id"]: r for r in _rows(tmp_path / "t")}
    assert set(got) == set(want)
    for key, row in want.items():
        assert {k: got[key][k] for k in row} == row, key


@pytest.mark.parametrize("seed", range(4))
def test_scd2_matches_the_model_including_several_changes_per_key_and_late_ones(tmp_path: Path, seed: int) -> None:
    batches = _random_batches(seed + 20)
    for i, batch in enumerate(batches):
        _write(tmp_path / "t", {**CDC, "strategy": "scd2"}, batch, i)
    cols = ("id", "seq", "name", "amount", "_valid_from", "_valid_to", "_is_current")
    got = sorted(({k: r[k] for k in cols} for r in _rows(tmp_path / "t")), key=lambda r: (r["id"], r["_valid_from"]))
    want = sorted(({k: r[k] for k in cols} for r in expected_scd2(batches)), key=lambda r: (r["id"], r["_valid_from"]))
    assert got == want
    current = [r for r in got if r["_is_current"]]
    assert len({r["id"] for r in current}) == len(current), "at most one current version per key"


def test_a_replayed_merge_batch_changes_nothing(tmp_path: Path) -> None:
    rows = [{"id": 1, "seq": 5, "op": "U", "name": "a", "amount": 1.0}]
    first = _write(tmp_path / "t", {**CDC, "strategy": "scd2"}, rows, 0)
    version = DeltaTable(str(tmp_path / "t")).version()
    again = _write(tmp_path / "t", {**CDC, "strategy": "scd2"}, [{**rows[0], "seq": 9}], 0)
    assert not first["skipped"] and again["skipped"] and again["txn_version"] == 0
    assert DeltaTable(str(tmp_path / "t")).version() == version
    assert DeltaTable(str(tmp_path / "t")).transaction_version("p/n") == 0


def test_ties_on_sequence_go_to_a_delete_then_to_the_later_row(tmp_path: Path) -> None:
    _write(tmp_path / "t", {**CDC, "strategy": "upsert"}, [
        {"id": 1, "seq": 1, "op": "I", "name": "x", "amount": 0.0},
        {"id": 2, "seq": 1, "op": "I", "name": "x", "amount": 0.0},
    ], 0)
    _write(tmp_path / "t", {**CDC, "strategy": "upsert"}, [
        {"id": 1, "seq": 7, "op": "D", "name": None, "amount": None},
        {"id": 1, "seq": 7, "op": "U", "name": "kept?", "amount": 1.0},
        {"id": 2, "seq": 7, "op": "U", "name": "first", "amount": 1.0},
        {"id": 2, "seq": 7, "op": "U", "name": "second", "amount": 2.0},
    ], 1)
    assert [(r["id"], r["name"]) for r in _rows(tmp_path / "t")] == [(2, "second")]


def test_scd1_keeps_audit_times_of_unchanged_rows(tmp_path: Path) -> None:
    merge = {**CDC, "strategy": "scd1", "audit_columns": True}
    _write(tmp_path / "t", merge, [
        {"id": 1, "seq": 1, "op": "I", "name": "a", "amount": 1.0},
        {"id": 2, "seq": 1, "op": "I", "name": "b", "amount": 1.0},
    ], 0)
    detail = _write(tmp_path / "t", merge, [
        {"id": 1, "seq": 2, "op": "U", "name": "a", "amount": 1.0},
        {"id": 2, "seq": 2, "op": "U", "name": "B", "amount": 1.0},
    ], 1)
    rows = {r["id"]: r for r in _rows(tmp_path / "t")}
    assert rows[1]["seq"] == 2 and rows[1]["_updated_at"] == T0 and rows[1]["_odibi_batch"] == 0
    assert rows[2]["name"] == "B" and rows[2]["_updated_at"] == T0 + timedelta(minutes=1)
    assert rows[2]["_odibi_batch"] == 1 and rows[2]["_created_at"] == T0
    assert detail["merge"]["updated"] == 2


def test_upsert_audit_columns_and_merge_counts(tmp_path: Path) -> None:
    merge = {**CDC, "audit_columns": True}
    _write(tmp_path / "t", merge, [{"id": 1, "seq": 1, "op": "I", "name": "a", "amount": 1.0}], 0)
    detail = _write(tmp_path / "t", merge, [
        {"id": 1, "seq": 2, "op": "U", "name": "a2", "amount": 1.0},
        {"id": 3, "seq": 2, "op": "I", "name": "c", "amount": 1.0},
    ], 1)
    assert detail["merge"] == {"inserted": 1, "updated": 1, "deleted": 0}
    rows = {r["id"]: r for r in _rows(tmp_path / "t")}
    assert rows[1]["_created_at"] == T0 and rows[1]["_updated_at"] == T0 + timedelta(minutes=1)
    assert rows[3]["_created_at"] == rows[3]["_updated_at"] == T0 + timedelta(minutes=1)
    assert {r["_odibi_batch"] for r in rows.values()} == {1}


def test_append_only_inserts_new_keys_and_never_touches_existing_rows(tmp_path: Path) -> None:
    merge = {"keys": ["id"], "strategy": "append_only", "sequence_by": "seq"}
    _write(tmp_path / "t", merge, [{"id": 1, "seq": 1, "op": "I", "name": "a", "amount": 1.0}], 0)
    _write(tmp_path / "t", merge, [
        {"id": 1, "seq": 9, "op": "U", "name": "changed", "amount": 9.0},
        {"id": 2, "seq": 3, "op": "I", "name": "old", "amount": 2.0},
        {"id": 2, "seq": 4, "op": "I", "name": "new", "amount": 2.0},
    ], 1)
    assert sorted((r["id"], r["name"]) for r in _rows(tmp_path / "t")) == [(1, "a"), (2, "new")]


def test_delete_insert_replaces_every_row_of_each_key_in_the_batch(tmp_path: Path) -> None:
    merge = {"keys": ["id"], "strategy": "delete_insert", "deletes": {"column": "op", "value": "D"}}
    _write(tmp_path / "t", merge, [
        {"id": 1, "seq": 1, "op": "I", "name": "a1", "amount": 1.0},
        {"id": 1, "seq": 2, "op": "I", "name": "a2", "amount": 1.0},
        {"id": 2, "seq": 1, "op": "I", "name": "b1", "amount": 1.0},
        {"id": 3, "seq": 1, "op": "I", "name": "c1", "amount": 1.0},
    ], 0)
    detail = _write(tmp_path / "t", merge, [
        {"id": 1, "seq": 3, "op": "I", "name": "a3", "amount": 1.0},
        {"id": 2, "seq": 3, "op": "D", "name": None, "amount": None},
    ], 1)
    assert sorted((r["id"], r["name"]) for r in _rows(tmp_path / "t")) == [(1, "a3"), (3, "c1")]
    assert detail["merge"] == {"inserted": 1, "updated": 0, "deleted": 3}


def test_scd2_without_sequence_uses_the_planned_time_one_version_per_batch(tmp_path: Path) -> None:
    merge = {"keys": ["id"], "strategy": "scd2"}
    _write(tmp_path / "t", merge, [
        {"id": 1, "seq": 1, "op": "I", "name": "a", "amount": 1.0},
        {"id": 1, "seq": 2, "op": "U", "name": "b", "amount": 1.0},
    ], 0)
    _write(tmp_path / "t", merge, [{"id": 1, "seq": 3, "op": "U", "name": "c", "amount": 1.0}], 1)
    rows = sorted(_rows(tmp_path / "t"), key=lambda r: r["_valid_from"])
    assert [(r["name"], r["_valid_from"], r["_valid_to"], r["_is_current"]) for r in rows] == [
        ("b", T0, T0 + timedelta(minutes=1), False),
        ("c", T0 + timedelta(minutes=1), None, True),
    ]


def test_legacy_merge_keys_is_an_upsert_where_the_last_row_wins(tmp_path: Path) -> None:
    write = WriteConfig(connection="c", format="delta", path="t", mode="merge", merge_keys=["id"])
    assert write.merge_config() is not None and write.merge_config().strategy == "upsert"  # type: ignore[union-attr]
    for batch, rows in enumerate([[{"id": 1, "v": "a"}, {"id": 1, "v": "b"}], [{"id": 1, "v": "c"}, {"id": 2, "v": "d"}]]):
        write_delta_idempotent(ENGINE, pa.Table.from_pylist(rows), str(tmp_path / "t"), write, {}, BatchKey("p", "n", batch))
    assert sorted((r["id"], r["v"]) for r in _rows(tmp_path / "t")) == [(1, "c"), (2, "d")]


def test_missing_merge_columns_and_system_column_clashes_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"merge column\(s\) \['ts'\] not in the data"):
        _write(tmp_path / "t", {"keys": ["id"], "sequence_by": "ts"}, [{"id": 1, "seq": 1, "op": "I", "name": "a", "amount": 1.0}], 0)
    write = WriteConfig.model_validate({"connection": "c", "format": "delta", "path": "t", "mode": "merge", "merge": {"keys": ["id"], "strategy": "scd2"}})
    with pytest.raises(ConfigError, match="_is_current"):
        write_delta_idempotent(ENGINE, pa.table({"id": [1], "_is_current": [True]}), str(tmp_path / "u"), write, {}, BatchKey("p", "n", 0))


@pytest.mark.parametrize(
    ("merge", "message"),
    [
        ({"keys": ["id"], "strategy": "append_only", "deletes": {"column": "op", "value": "D"}}, "append_only never deletes"),
        ({"keys": ["id"], "strategy": "delete_insert", "sequence_by": "ts"}, "no meaning"),
        ({"keys": ["id"], "sequence_by": "_valid_from"}, "names the runtime maintains"),
        ({"keys": []}, "at least 1"),
    ],
)
def test_merge_config_is_validated(merge: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WriteConfig.model_validate({"connection": "c", "format": "delta", "path": "t", "mode": "merge", "merge": merge})
