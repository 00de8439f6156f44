"""Options reach the engines through whole pipeline runs (pandas engine, real folders and Delta).

These are the defects issue 10 names: options of static reads were ignored, a CSV value like
``n/a`` silently became NULL (pyarrow's built-in null list), and write options only half applied.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tests.conftest import land, write_project
from tests.unit.runtime.helpers import delta_rows, runner


def test_a_static_csv_read_honours_header_false_and_its_schema(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "p",
        {
            "s": """\
            pipeline: s
            nodes:
              - name: ref
                read: {connection: local, format: csv, path: ref.csv,
                       options: {header: false, delimiter: ";", schema: {id: int, name: string}}}
                write: {connection: local, format: delta, path: lake/ref}
            """
        },
        files={"data/ref.csv": "1;one\n2;two\n"},
    )
    report = runner(project, "s").run_batch(force=True)
    assert report is not None
    assert delta_rows(project / "data" / "lake" / "ref") == [
        {"id": 1, "name": "one"},
        {"id": 2, "name": "two"},
    ]


NA_PIPELINE = """\
pipeline: na
on_error: dead_letter
dead_letter: {{connection: local, path: lake/dlq, format: jsonl}}
nodes:
  - name: raw
    read: {{connection: local, format: csv, path: in/*.csv,
           incremental: {{mode: files, settle_seconds: 0}},
           options: {{schema: {{id: int, amount: int}}{extra}}}}}
    write: {{connection: local, format: delta, path: lake/out}}
"""
NA_CSV = "id,amount,note\n1,10,ok\n2,n/a,n/a\n3,,\n"


def test_n_a_is_a_bad_record_in_a_typed_column_not_a_silent_null(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"na": NA_PIPELINE.format(extra="")})
    land(project / "data" / "in", "a.csv", NA_CSV)
    report = runner(project, "na").run_batch()
    assert report is not None and report.rejected == 1  # counted and dead-lettered
    rows = delta_rows(project / "data" / "lake" / "out")
    # The empty field is NULL (the default null_values: [""]); 'n/a' never is, unless listed.
    assert rows == [
        {"id": 1, "amount": 10, "note": "ok"},
        {"id": 3, "amount": None, "note": None},
    ]
    dead = (project / "data" / "lake" / "dlq").rglob("*.jsonl")
    assert any("n/a" in p.read_text() for p in dead)


def test_null_values_lists_the_texts_that_are_null(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "p", {"na": NA_PIPELINE.format(extra=', null_values: ["", "n/a"]')}
    )
    land(project / "data" / "in", "a.csv", NA_CSV)
    report = runner(project, "na").run_batch()
    assert report is not None and report.rejected == 0
    rows = delta_rows(project / "data" / "lake" / "out")
    assert {"id": 2, "amount": None, "note": None} in rows and len(rows) == 3


def test_file_write_options_shape_the_output(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "p",
        {
            "w": """\
            pipeline: w
            nodes:
              - name: raw
                read: {connection: local, format: jsonl, path: in/*.jsonl,
                       incremental: {mode: files, settle_seconds: 0}}
                write: {connection: local, format: csv, path: out/csv,
                        options: {header: false, delimiter: "|"}}
              - name: pq
                depends_on: [raw]
                write: {connection: local, format: parquet, path: out/pq,
                        options: {compression: zstd}}
            """
        },
    )
    land(project / "data" / "in", "a.jsonl", '{"id": 1, "v": "x"}\n{"id": 2, "v": "y"}\n')
    assert runner(project, "w").run_batch() is not None
    [csv_file] = (project / "data" / "out" / "csv").glob("part-*.csv")
    assert csv_file.read_text().splitlines() == ["1|\"x\"", "2|\"y\""]
    back = pacsv.read_csv(csv_file, read_options=pacsv.ReadOptions(autogenerate_column_names=True),
                          parse_options=pacsv.ParseOptions(delimiter="|"))
    assert back.num_rows == 2
    [pq_file] = (project / "data" / "out" / "pq").glob("part-*.parquet")
    assert pq.ParquetFile(pq_file).metadata.row_group(0).column(0).compression == "ZSTD"
