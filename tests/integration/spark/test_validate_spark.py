"""``validate`` on ``engine: spark`` binds with the Spark analyzer and says the same as on pandas.

Two pipelines differ only in their name and engine (the ``engine:`` key is the file's last line,
so every other line number is the same); each broken SQL or check must give the same message,
hint and line on both engines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.service.project import inspect, load
from tests.conftest import write_project
from tests.spark_fixtures import spark_engine  # noqa: F401 - fixture

PIPELINE = """\
pipeline: {name}
nodes:
  - name: raw
    read:
      connection: local
      format: csv
      path: landing/*.csv
      options: {{schema: {{device: string, amount: double}}}}
      incremental: {{mode: files}}
    checks: [{{name: positive, expr: "{check}"}}]
  - name: clean
    depends_on: [raw]
    transform:
      sql: |
        SELECT device,
               {column}
        FROM {table}
engine: {engine}
"""

CASES = {
    "unknown column": dict(column="amout", table="raw", check="amount > 0"),
    "unknown table": dict(column="amount", table="rwa", check="amount > 0"),
    "syntax": dict(column="amount amount amount", table="raw", check="amount > 0"),
    "check column": dict(column="amount", table="raw", check="devise IS NOT NULL"),
    "good": dict(column="upper(device) AS d", table="raw", check="amount > 0"),
}


def _errors(findings: Any, name: str) -> list[tuple[int | None, str, str | None]]:
    out = []
    for err in findings.errors:
        if err.file and err.file.endswith(f"/{name}.yaml"):
            out.append((err.line, err.message.replace(name, "P"), err.hint))
    return sorted(out, key=str)


@pytest.mark.parametrize("case", list(CASES))
def test_spark_analyzer_reports_what_duckdb_reports(tmp_path: Path, case: str, spark_engine: Any) -> None:  # noqa: F811
    parts = CASES[case]
    root = write_project(tmp_path / "p", {
        "on_pandas": PIPELINE.format(name="on_pandas", engine="pandas", **parts),
        "on_spark": PIPELINE.format(name="on_spark", engine="spark", **parts),
    })
    pandas = PandasEngine()
    findings = inspect(load(root), engines=lambda n: spark_engine if n == "spark" else pandas)
    assert sorted(findings.bound) == ["on_pandas", "on_spark"]
    on_pandas, on_spark = _errors(findings, "on_pandas"), _errors(findings, "on_spark")
    assert on_pandas == on_spark
    if case == "good":
        assert on_pandas == []
    else:
        assert len(on_pandas) == 1
    if case == "unknown column":
        assert on_pandas == [(16, "pipeline P node clean: SQL: unknown column 'amout'", "did you mean 'amount'?")]
    if case == "check column":
        assert on_pandas == [(10, "pipeline P node raw: check 'positive': unknown column 'devise'", "did you mean 'device'?")]
