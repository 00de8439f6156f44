"""Data-quality thresholds through the whole protocol: check severities and batch expectations.

A batch breaching a ``fail`` threshold writes nothing (no sink of any node, no dead letter),
commits nothing, fails terminally with the numbers — and after the thresholds are fixed the
same batch lands exactly once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deltalake import DeltaTable

from odibi_stream.exceptions import BatchFailed, ExpectationFailed, RecordError, root_cause
from tests.conftest import land, write_project
from tests.unit.runtime.helpers import delta_rows, runner

ROWS = "".join(
    json.dumps({"id": i, "amount": (i % 5) - 1, "name": None if i % 4 == 0 else f"n{i}"}) + "\n"
    for i in range(20)
)  # amount <= 0 for 8 rows, name NULL for 5 rows


def _project(tmp_path: Path, checks: str, expect: str = "") -> Path:
    return write_project(
        tmp_path / "p",
        {
            "q": f"""\
            pipeline: q
            on_error: dead_letter
            dead_letter: {{connection: local, path: lake/dlq, format: delta}}
            nodes:
              - name: raw
                read: {{connection: local, format: jsonl, path: in/*.jsonl,
                       options: {{schema: {{id: int64, amount: int64, name: string}}}},
                       incremental: {{mode: files, settle_seconds: 0}}}}
              - name: copy
                depends_on: [raw]
                write: {{connection: local, format: delta, path: lake/copy}}
              - name: clean
                depends_on: [raw]
                transform: {{sql: "SELECT * FROM raw"}}
                checks: {checks}
                {expect}
                write: {{connection: local, format: delta, path: lake/clean}}
            """
        },
    )


def test_severities_warn_keeps_drop_dead_letters_and_counts_are_committed(tmp_path: Path) -> None:
    checks = '[{name: positive, expr: "amount > 0", severity: warn}, {name: named, expr: "name IS NOT NULL", severity: drop}]'
    project = _project(tmp_path, checks)
    land(project / "data" / "in", "a.jsonl", ROWS)
    report = runner(project, "q").run_batch()
    assert report is not None
    clean = delta_rows(project / "data" / "lake" / "clean")
    assert len(clean) == 15 and any(r["amount"] <= 0 for r in clean), "warn keeps failing rows"
    assert all(r["name"] is not None for r in clean)
    dead = delta_rows(project / "data" / "lake" / "dlq")
    assert len(dead) == 5 and all("named" in d["_odibi_error"] for d in dead)
    assert report.quality["clean"]["checks"] == {
        "positive": {"failed": 8, "severity": "warn"}, "named": {"failed": 5, "severity": "drop"},
    }
    assert report.nodes["clean"]["rejected"] == 5


def test_a_fail_check_stops_the_batch_before_any_sink_writes(tmp_path: Path) -> None:
    project = _project(tmp_path, '[{name: positive, expr: "amount > 0", severity: fail}]')
    land(project / "data" / "in", "a.jsonl", ROWS)
    with pytest.raises(BatchFailed) as err:
        runner(project, "q").run_batch()
    assert isinstance(root_cause(err.value), RecordError) and not err.value.retryable
    assert "8 row(s) failed" in str(err.value)
    for table in ("copy", "clean", "dlq"):
        assert not (project / "data" / "lake" / table).exists(), f"{table} was written"


def test_expectations_stop_a_bad_batch_with_the_numbers_and_leave_no_partial_write(tmp_path: Path) -> None:
    expect = "expect: {min_rows: 20, max_null_fraction: {name: 0.1}, max_reject_fraction: 0.05}"
    project = _project(tmp_path, '[{name: positive, expr: "amount > 0"}]', expect)
    land(project / "data" / "in", "a.jsonl", ROWS)
    with pytest.raises(BatchFailed) as err:
        runner(project, "q").run_batch()
    cause = root_cause(err.value)
    assert isinstance(cause, ExpectationFailed) and not err.value.retryable
    text = str(err.value)
    assert "batch 0" in text and "nothing was written" in text
    assert "rows 12 < min_rows 20" in text
    assert "reject fraction 0.4000 > 0.05 (8 of 20 rows)" in text
    assert "null fraction of 'name' 0.2500 > 0.1 (3 of 12 rows)" in text
    for table in ("copy", "clean", "dlq"):
        assert not (project / "data" / "lake" / table).exists(), f"{table} was written"
    assert not list((project / "checkpoints" / "q").glob("commits/*")), "nothing committed"

    # Loosen the thresholds: the same planned batch replays and lands exactly once.
    (project / "pipelines" / "q.yaml").write_text(
        (project / "pipelines" / "q.yaml").read_text().replace("severity: fail", "").replace("expect: {", "expect: {severity: warn, ")
    )
    report = runner(project, "q").run_batch()
    assert report is not None and report.batch == 0 and report.replayed
    assert report.quality["clean"]["expect"] == {"rows": 12, "reject_fraction": 0.4, "null_fraction": {"name": 0.25}}
    assert len(delta_rows(project / "data" / "lake" / "copy")) == 20
    assert len(delta_rows(project / "data" / "lake" / "clean")) == 12
    assert len(delta_rows(project / "data" / "lake" / "dlq")) == 8
    assert runner(project, "q").run_batch() is None
    assert DeltaTable(str(project / "data" / "lake" / "clean")).transaction_version("q/clean") == 0


def test_a_good_batch_passes_the_gate(tmp_path: Path) -> None:
    expect = "expect: {min_rows: 1, max_null_fraction: {name: 0.5}}"
    project = _project(tmp_path, '[{name: positive, expr: "amount > -5"}]', expect)
    land(project / "data" / "in", "a.jsonl", ROWS)
    report = runner(project, "q").run_batch()
    assert report is not None and report.quality["clean"]["expect"]["rows"] == 20
    assert len(delta_rows(project / "data" / "lake" / "clean")) == 20


def test_an_expectation_on_a_column_the_node_lacks_is_a_clear_error(tmp_path: Path) -> None:
    project = _project(tmp_path, "[]", "expect: {max_null_fraction: {emial: 0.1}}")
    land(project / "data" / "in", "a.jsonl", ROWS)
    with pytest.raises(BatchFailed, match=r"names column\(s\) \['emial'\] the node does not output"):
        runner(project, "q").run_batch()
