"""When the Spark engine may skip its schema-inference pass: only if inference could add nothing."""

from __future__ import annotations

from pathlib import Path

from odibi_stream.config.options import CsvReadOptions, JsonReadOptions
from odibi_stream.engines.spark_schema import declared_covers

CSV = CsvReadOptions()

DECLARED = {"id": "bigint", "name": "string", "amount": "double"}


def _csv(path: Path, header: str) -> str:
    path.write_text(header + "\n1,a,2.5\n")
    return str(path)


def test_a_header_of_declared_columns_needs_no_inference(tmp_path: Path) -> None:
    paths = [_csv(tmp_path / "a.csv", "name,id,amount"), _csv(tmp_path / "b.csv", "name,id,amount")]
    got = declared_covers(paths, CSV, DECLARED)
    assert got == {"name": "string", "id": "bigint", "amount": "double"}
    assert list(got) == ["name", "id", "amount"], "columns keep the header's order"
    partial = declared_covers([paths[0]], CSV, {**DECLARED, "late": "string"})
    assert partial is not None and list(partial) == ["name", "id", "amount", "late"]
    semi = _csv(tmp_path / "c.csv", "name;id;amount")
    assert declared_covers([semi], CsvReadOptions(delimiter=";"), DECLARED) is not None


def test_anything_inference_could_change_falls_back(tmp_path: Path) -> None:
    undeclared = _csv(tmp_path / "u.csv", "id,name,amount,extra")
    assert declared_covers([undeclared], CSV, DECLARED) is None
    a, b = _csv(tmp_path / "a.csv", "id,name,amount"), _csv(tmp_path / "b.csv", "name,id,amount")
    assert declared_covers([a, b], CSV, DECLARED) is None, "headers differ between files"
    assert declared_covers([_csv(tmp_path / "d.csv", "id,id,name")], CSV, DECLARED) is None
    assert declared_covers([_csv(tmp_path / "p.csv", "id, name,amount")], CSV, DECLARED) is None
    assert declared_covers(["abfss://c@acct.dfs.core.windows.net/x.csv"], CSV, DECLARED) is None
    assert declared_covers([str(tmp_path / "missing.csv")], CSV, DECLARED) is None
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"id": 1}\n')
    assert declared_covers([str(jsonl)], JsonReadOptions(), DECLARED) is None, "JSON keeps its inference"
