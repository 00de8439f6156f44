"""Schema evolution policies of the Delta sink: add_columns, strict, rescue (pandas engine).

Types are set exactly with Arrow tables; the pipeline-level test in
``tests/unit/runtime/test_schema_policy_cli.py`` shows the same through the CLI.
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
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import SchemaMismatch

ENGINE = PandasEngine()


def _write(uri: Path, evolution: str, table: pa.Table, batch: int, merge: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"connection": "c", "format": "delta", "path": "t", "schema": {"evolution": evolution}}
    if merge:
        doc.update(mode="merge", merge=merge)
    result = write_delta_idempotent(ENGINE, table, str(uri), WriteConfig.model_validate(doc), {}, BatchKey("p", "n", batch))
    return dict(result.detail)


def _schema(uri: Path) -> dict[str, str]:
    return {f.name: str(f.type) for f in pa.schema(DeltaTable(str(uri)).schema().to_arrow())}


def _first(uri: Path, evolution: str) -> None:
    _write(uri, evolution, pa.table({"id": pa.array([1], pa.int64()), "n": pa.array([7], pa.int32())}), 0)


def test_add_columns_adds_new_columns_and_widens_types(tmp_path: Path) -> None:
    uri = tmp_path / "t"
    _first(uri, "add_columns")
    detail = _write(uri, "add_columns", pa.table({
        "id": pa.array([2], pa.int64()), "n": pa.array([2**40], pa.int64()), "extra": ["x"],
    }), 1)
    assert detail["schema_change"] == {"added": {"extra": "string"}, "widened": {"n": "int32→int64"}}
    assert _schema(uri) == {"id": "int64", "n": "int64", "extra": "string"}
    rows = sorted(DeltaTable(str(uri)).to_pyarrow_table().to_pylist(), key=lambda r: r["id"])
    assert rows == [{"id": 1, "n": 7, "extra": None}, {"id": 2, "n": 2**40, "extra": "x"}]
    assert DeltaTable(str(uri)).transaction_version("p/n") == 1


def test_narrower_data_is_cast_up_without_a_change(tmp_path: Path) -> None:
    uri = tmp_path / "t"
    _write(uri, "strict", pa.table({"id": pa.array([1], pa.int64()), "n": pa.array([7], pa.int64())}), 0)
    detail = _write(uri, "strict", pa.table({"id": pa.array([2], pa.int64()), "n": pa.array([8], pa.int16())}), 1)
    assert "schema_change" not in detail
    assert _schema(uri) == {"id": "int64", "n": "int64"}


def test_narrowing_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    uri = tmp_path / "t"
    _first(uri, "add_columns")
    version = DeltaTable(str(uri)).version()
    with pytest.raises(SchemaMismatch, match=r"retyped: n int32→string") as err:
        _write(uri, "add_columns", pa.table({"id": pa.array([2], pa.int64()), "n": ["seven"]}), 1)
    assert "add_columns" in str(err.value) and err.value.hint and "narrowing" in err.value.hint
    assert DeltaTable(str(uri)).version() == version


def test_strict_fails_with_the_whole_diff(tmp_path: Path) -> None:
    uri = tmp_path / "t"
    _write(uri, "strict", pa.table({"id": pa.array([1], pa.int64()), "n": pa.array([7], pa.int32()), "gone": ["g"]}), 0)
    version = DeltaTable(str(uri)).version()
    with pytest.raises(SchemaMismatch) as err:
        _write(uri, "strict", pa.table({"id": pa.array([2], pa.int64()), "n": pa.array([8], pa.int64()), "extra": [1.5]}), 1)
    text = str(err.value)
    assert "(schema evolution: strict)" in text and str(uri) in text
    assert "added: extra (double)" in text and "removed: gone" in text and "retyped: n int32→int64" in text
    assert DeltaTable(str(uri)).version() == version
    _write(uri, "strict", pa.table({"id": pa.array([3], pa.int64()), "n": pa.array([9], pa.int32()), "gone": ["h"]}), 1)


def test_rescue_moves_unknown_and_mistyped_fields_into_rescued_data(tmp_path: Path) -> None:
    uri = tmp_path / "t"
    _first(uri, "rescue")
    assert _schema(uri) == {"id": "int64", "n": "int32", "_rescued_data": "string"}
    detail = _write(uri, "rescue", pa.table({
        "id": pa.array([2, 3], pa.int64()), "n": ["x", None], "extra": ["e", None],
    }), 1)
    assert detail["schema_change"] == {"rescued": ["extra", "n"]}
    assert _schema(uri) == {"id": "int64", "n": "int32", "_rescued_data": "string"}
    rows = {r["id"]: r for r in DeltaTable(str(uri)).to_pyarrow_table().to_pylist()}
    assert rows[1]["_rescued_data"] is None
    assert rows[2]["n"] is None and json.loads(rows[2]["_rescued_data"]) == {"extra": "e", "n": "x"}
    assert rows[3]["_rescued_data"] is None


def test_rescue_works_with_merges(tmp_path: Path) -> None:
    uri = tmp_path / "t"
    merge = {"keys": ["id"]}
    _write(uri, "rescue", pa.table({"id": pa.array([1], pa.int64()), "v": ["a"]}), 0, merge)
    _write(uri, "rescue", pa.table({"id": pa.array([1], pa.int64()), "v": ["b"], "surprise": [True]}), 1, merge)
    rows = DeltaTable(str(uri)).to_pyarrow_table().to_pylist()
    assert rows == [{"id": 1, "v": "b", "_rescued_data": '{"surprise":true}'}]
