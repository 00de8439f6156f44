"""Data semantics on Spark frames: schema policies, masking in Python workers, SCD2 replay.

The parity suite compares whole pipelines on both engines; these pin the Spark-only paths
(``mapInArrow`` masking and rescue, Spark casts, a MERGE's transaction through the session).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from odibi_stream.config.models import WriteConfig
from odibi_stream.connectors.base import BatchKey
from odibi_stream.connectors.delta import write_delta_idempotent
from odibi_stream.core.masks import MaskRule, mask_table
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import SchemaMismatch
from odibi_stream.runtime.masking import Masker
from tests.spark_fixtures import require_spark, shared_engine


@pytest.fixture(scope="module")
def engine() -> Any:
    require_spark()
    return shared_engine()


def _write(engine: Any, uri: Path, table: pa.Table, batch: int, **write: Any) -> dict[str, Any]:
    cfg = WriteConfig.model_validate({"connection": "c", "format": "delta", "path": "t", **write})
    result = write_delta_idempotent(engine, engine.from_arrow(table), str(uri), cfg, {}, BatchKey("p", "n", batch))
    return {"skipped": result.skipped, **result.detail}


def test_masking_in_spark_workers_equals_the_pandas_engine(engine: Any) -> None:
    rules = {"email": MaskRule.parse("hash"), "ssn": MaskRule.parse("keep_last(4)"), "age": MaskRule.parse("null")}
    masker = Masker(rules, b"salt")
    table = pa.table({"id": [1, 2, 3], "email": ["a@x", None, "a@x"], "ssn": ["123-45-6789", "12", None], "age": [30, 40, None]})
    spark = engine.to_arrow(masker.frame(engine, engine.from_arrow(table))).to_pylist()
    pandas = masker.frame(PandasEngine(), table).to_pylist()
    assert spark == pandas == mask_table(table, rules, b"salt").to_pylist()
    assert spark[0]["email"] == spark[2]["email"] and spark[0]["ssn"] == "*******6789"


def test_schema_policies_on_spark_frames(engine: Any, tmp_path: Path) -> None:
    uri = tmp_path / "t"
    _write(engine, uri, pa.table({"id": pa.array([1], pa.int64()), "n": pa.array([7], pa.int32())}), 0)
    detail = _write(engine, uri, pa.table({"id": pa.array([2], pa.int64()), "n": pa.array([2**40], pa.int64()), "x": ["e"]}), 1)
    assert detail["schema_change"] == {"added": {"x": "string"}, "widened": {"n": "int32→int64"}}
    assert sorted(r["n"] for r in DeltaTable(str(uri)).to_pyarrow_table().to_pylist()) == [7, 2**40]
    cast = _write(engine, uri, pa.table({"id": pa.array([3], pa.int32()), "n": pa.array([9], pa.int16()), "x": ["f"]}), 2)
    assert "schema_change" not in cast
    with pytest.raises(SchemaMismatch, match="removed: x"):
        _write(engine, uri, pa.table({"id": pa.array([4], pa.int64()), "n": pa.array([1], pa.int64())}), 3, schema={"evolution": "strict"})


def test_rescue_on_spark_frames(engine: Any, tmp_path: Path) -> None:
    uri = tmp_path / "t"
    _write(engine, uri, pa.table({"id": pa.array([1], pa.int64()), "v": ["a"]}), 0, schema={"evolution": "rescue"})
    detail = _write(engine, uri, pa.table({"id": pa.array([2], pa.int64()), "v": pa.array([5], pa.int64()), "z": [1.5]}), 1, schema={"evolution": "rescue"})
    assert detail["schema_change"] == {"rescued": ["z", "v"]}
    row = next(r for r in DeltaTable(str(uri)).to_pyarrow_table().to_pylist() if r["id"] == 2)
    assert row["v"] is None and json.loads(row["_rescued_data"]) == {"v": 5, "z": 1.5}


def test_scd2_merge_carries_the_transaction_and_a_replay_is_skipped(engine: Any, tmp_path: Path) -> None:
    uri = tmp_path / "t"
    merge = {"mode": "merge", "merge": {"keys": ["id"], "strategy": "scd2", "sequence_by": "seq"}}
    _write(engine, uri, pa.table({"id": [1, 1], "seq": [1, 2], "v": ["a", "b"]}), 0, **merge)
    detail = _write(engine, uri, pa.table({"id": [1], "seq": [3], "v": ["c"]}), 1, **merge)
    assert detail["merge"] == {"inserted": 1, "updated": 1, "deleted": 0}
    table = DeltaTable(str(uri))
    assert table.transaction_version("p/n") == 1
    version = table.version()
    assert _write(engine, uri, pa.table({"id": [1], "seq": [4], "v": ["d"]}), 1, **merge)["skipped"]
    assert DeltaTable(str(uri)).version() == version
    rows = sorted(DeltaTable(str(uri)).to_pyarrow_table().to_pylist(), key=lambda r: r["_valid_from"])
    assert [(r["v"], r["_valid_from"], r["_valid_to"], r["_is_current"]) for r in rows] == [
        ("a", 1, 2, False), ("b", 2, 3, False), ("c", 3, None, True),
    ]
