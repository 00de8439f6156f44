"""CSV read options mean the same rows on both engines (pandas/pyarrow and Spark)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from odibi_stream.engines import get_engine
from odibi_stream.exceptions import ConfigError
from tests.spark_fixtures import require_spark, shared_engine

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module", params=["pandas", "spark"])
def engine(request: pytest.FixtureRequest) -> Any:
    if request.param == "spark":
        require_spark()
        return shared_engine()
    return get_engine("pandas")


def _rows(engine: Any, frame: Any) -> list[dict[str, Any]]:
    return sorted(engine.to_arrow(frame).to_pylist(), key=lambda r: json.dumps(r, default=str))


def test_only_the_empty_field_is_null_by_default(tmp_path: Path, engine: Any) -> None:
    path = tmp_path / "a.csv"
    path.write_text("id,amount,note\n1,10,ok\n2,n/a,n/a\n3,,\n")
    result = engine.read_files([str(path)], "csv", {"schema": {"id": "int", "amount": "int"}})
    assert _rows(engine, result.frame) == [
        {"id": 1, "amount": 10, "note": "ok"},
        {"id": 3, "amount": None, "note": None},
    ]
    assert [r.record for r in result.rejects] == ["2,n/a,n/a"]  # a bad record, not a NULL


def test_a_listed_null_value_is_null(tmp_path: Path, engine: Any) -> None:
    path = tmp_path / "a.csv"
    path.write_text("id,amount,note\n1,NA,NA\n2,5,x\n")
    options = {"schema": {"id": "int", "amount": "int"}, "null_values": ["NA"]}
    result = engine.read_files([str(path)], "csv", options)
    assert _rows(engine, result.frame) == [
        {"id": 1, "amount": None, "note": None},
        {"id": 2, "amount": 5, "note": "x"},
    ]
    assert result.rejects == []


def test_header_false_delimiter_and_quote(tmp_path: Path, engine: Any) -> None:
    path = tmp_path / "a.csv"
    path.write_text("1;'a;b'\n2;c\n")
    options = {"header": False, "delimiter": ";", "quote": "'", "schema": {"id": "int", "txt": "string"}}
    result = engine.read_files([str(path)], "csv", options)
    assert _rows(engine, result.frame) == [{"id": 1, "txt": "a;b"}, {"id": 2, "txt": "c"}]


def test_a_typo_in_options_from_code_is_a_config_error(tmp_path: Path, engine: Any) -> None:
    with pytest.raises(ConfigError, match="unknown option 'delimter'") as info:
        engine.read_files([str(tmp_path / "a.csv")], "csv", {"delimter": ";"})
    assert info.value.hint == "did you mean 'delimiter'?"


def test_several_null_values(tmp_path: Path, engine: Any) -> None:
    path = tmp_path / "a.csv"
    path.write_text("id,v\n1,NA\n2,n/a\n3,x\n")
    options = {"schema": {"id": "int"}, "null_values": ["NA", "n/a"]}
    if engine.name == "spark":
        with pytest.raises(ConfigError, match="exactly one CSV null value"):
            engine.read_files([str(path)], "csv", options)
        return
    result = engine.read_files([str(path)], "csv", options)
    assert _rows(engine, result.frame) == [
        {"id": 1, "v": None},
        {"id": 2, "v": None},
        {"id": 3, "v": "x"},
    ]
