"""Deferred accounting on the Spark engine (runtime.deferred): the batch's write job parses
the files once and the counts and rejects are learnt from it, with the same outcome as eager.

The parity suite compares the outputs (rows and dead letters) with the pandas engine; these
tests cover what a parity run cannot: a bad record under ``on_error: fail`` (the batch must fail
before anything lands) and a file that cannot be read at all (the deferred attempt fails inside
the write job, and the eager re-run isolates the file).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.loader import load_project
from odibi_stream.engines import get_engine
from odibi_stream.exceptions import BatchFailed
from odibi_stream.runtime.compile import compile_pipeline
from odibi_stream.runtime.deferred import deferrable
from odibi_stream.runtime.runner import PipelineRunner
from tests.azurite_fixtures import AzuriteAccount, azurite  # noqa: F401 - fixture
from tests.conftest import land, write_project
from tests.integration.azure.azure_projects import azure_project
from tests.spark_fixtures import spark_engine  # noqa: F401 - fixture

PIPE = """\
pipeline: p
{policy}
nodes:
  - name: raw
    read:
      connection: local
      format: jsonl
      path: landing/*
      options: {{schema: {{id: int64, amount: double, qty: int64}}}}
      incremental: {{mode: files, settle_seconds: 0}}
  - name: picked
    depends_on: [raw]
    transform: {{sql: "SELECT id, amount FROM raw"}}
  - {{name: lake, depends_on: [picked], write: {{connection: local, format: delta, path: lake/p}}}}
"""
DEAD_LETTER = "on_error: dead_letter\ndead_letter: {connection: local, path: dead, format: jsonl}"


def _rows(ids: range) -> str:
    return "".join(json.dumps({"id": i, "amount": i * 1.5, "qty": i}) + "\n" for i in ids)


def _run(root: Path, engine: Any) -> list[Any]:
    proj = load_project(root)
    compiled = compile_pipeline(proj, "p")
    assert deferrable(engine, compiled.config), "this pipeline must take the deferred path"
    with PipelineRunner(compiled, engine=engine, checkpoints=CheckpointManager.open(proj.checkpoint)) as runner:
        return runner.run_available()


def _commit(root: Path) -> dict[str, Any]:
    commits = sorted((root / "checkpoints" / "p" / "commits").glob("*.json"))
    assert len(commits) == 1
    return json.loads(commits[0].read_text())["nodes"]  # type: ignore[no-any-return]


def test_counts_and_rejects_settle_after_the_write(tmp_path: Path, spark_engine: Any) -> None:  # noqa: F811
    root = write_project(tmp_path / "p", {"p": PIPE.format(policy=DEAD_LETTER)})
    bad = '{"id": 90, "amount": 1.0, "qty": "many"}\n{"id": 91, "amount": "x", "qty": 1}\n{"id": 92\n'
    land(root / "data" / "landing", "a.jsonl", _rows(range(5)) + bad)
    land(root / "data" / "landing", "b.jsonl", _rows(range(5, 9)))
    _run(root, spark_engine)
    table = DeltaTable(str(root / "data" / "lake" / "p")).to_pyarrow_table()
    assert sorted(table.column("id").to_pylist()) == list(range(9))
    nodes = _commit(root)
    assert (nodes["raw"]["rows_in"], nodes["raw"]["rows_out"], nodes["raw"]["rejected"]) == (12, 9, 3)
    assert (nodes["picked"]["rows_in"], nodes["picked"]["rows_out"]) == (9, 9)
    assert (nodes["lake"]["rows_in"], nodes["lake"]["rows_out"]) == (9, 9)
    dead = [json.loads(line) for p in (root / "data" / "dead").rglob("*.jsonl") for line in p.read_text().splitlines()]
    assert sorted(d["_odibi_record"] for d in dead) == sorted(bad.splitlines())
    assert {d["_odibi_batch"] for d in dead} == {0}


def test_a_bad_record_under_on_error_fail_lands_nothing(tmp_path: Path, spark_engine: Any) -> None:  # noqa: F811
    root = write_project(tmp_path / "p", {"p": PIPE.format(policy="")})
    land(root / "data" / "landing", "a.jsonl", _rows(range(5)) + '{"id": 9, "amount": 2.0, "qty": "many"}\n')
    with pytest.raises(BatchFailed) as failed:
        _run(root, spark_engine)
    # The message is the eager path's: the deferred write failed on the record, nothing committed.
    assert "1 bad record(s) in batch 0" in str(failed.value)
    assert not list((root / "data" / "lake" / "p").glob("_delta_log/*.json")), "a commit landed"
    assert not list((root / "checkpoints" / "p" / "commits").glob("*.json"))


def test_an_unreadable_file_is_isolated_by_the_eager_rerun(tmp_path: Path, spark_engine: Any) -> None:  # noqa: F811
    # No schema inference pass (it would meet the file at read time): the write job meets it.
    pipe = PIPE.format(policy=DEAD_LETTER).replace("qty: int64}", "qty: int64}, undeclared_fields: ignore")
    root = write_project(tmp_path / "p", {"p": pipe})
    land(root / "data" / "landing", "a.jsonl", _rows(range(4)))
    # Not gzip at all: the codec fails the job that reads it (a truncated stream would not).
    (root / "data" / "landing" / "b.jsonl.gz").write_bytes(b"not gzip " * 50)
    _run(root, spark_engine)
    table = DeltaTable(str(root / "data" / "lake" / "p")).to_pyarrow_table()
    assert sorted(table.column("id").to_pylist()) == list(range(4))
    dead = [json.loads(line) for p in (root / "data" / "dead").rglob("*.jsonl") for line in p.read_text().splitlines()]
    assert [Path(d["_odibi_source"]).name for d in dead] == ["b.jsonl.gz"]
    assert "not a gzip file" in dead[0]["_odibi_error"]
    assert "\tat org.apache" not in dead[0]["_odibi_error"], "a Java stack trace in the dead letter"


def test_which_pipelines_defer(tmp_path: Path, spark_engine: Any) -> None:  # noqa: F811
    root = write_project(tmp_path / "p", {
        "p": PIPE.format(policy=DEAD_LETTER),
        "checked": PIPE.format(policy=DEAD_LETTER).replace("pipeline: p", "pipeline: checked").replace(
            "  - name: picked\n", "  - name: picked\n    checks: [{name: positive, expr: \"amount > 0\"}]\n"
        ),
        "merged": PIPE.format(policy=DEAD_LETTER).replace("pipeline: p", "pipeline: merged").replace(
            "path: lake/p}", "path: lake/m, mode: merge, merge_keys: [id]}"
        ),
        # on_error: fail with two sinks: one could commit before the other's job meets the record.
        "two_sinks": PIPE.format(policy="").replace("pipeline: p", "pipeline: two_sinks")
        + "  - {name: lake2, depends_on: [raw], write: {connection: local, format: delta, path: lake/q}}\n",
        "one_sink": PIPE.format(policy="").replace("pipeline: p", "pipeline: one_sink"),
    })
    proj = load_project(root)
    assert deferrable(spark_engine, compile_pipeline(proj, "p").config)
    assert not deferrable(get_engine("pandas"), compile_pipeline(proj, "p").config)
    assert not deferrable(spark_engine, compile_pipeline(proj, "checked").config)
    assert not deferrable(spark_engine, compile_pipeline(proj, "merged").config)
    assert not deferrable(spark_engine, compile_pipeline(proj, "two_sinks").config)
    assert deferrable(spark_engine, compile_pipeline(proj, "one_sink").config)


def test_remote_files_are_read_before_their_local_copies_go(
    tmp_path: Path, spark_engine: Any, azurite: AzuriteAccount, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    # Blob files are read from temporary local copies that the read's block deletes: a deferred
    # read would meet them gone inside the write job, then need the eager re-run.
    az = azure_project(tmp_path / "p", azurite, engine="spark", max_files=5)
    events = az.root / "pipelines" / "events.yaml"
    text = events.read_text()
    checks = '    checks:\n      - {name: non_negative, expr: "doubled >= 0"}\n'
    assert checks in text
    events.write_text(text.replace(checks, ""))  # no checks: the pipeline is deferrable
    try:
        ids = az.land_many(2, 5)
        proj = load_project(az.root)
        compiled = compile_pipeline(proj, "events")
        assert deferrable(spark_engine, compiled.config)
        caplog.set_level(logging.INFO, logger="odibi_stream")
        with PipelineRunner(compiled, engine=spark_engine, checkpoints=CheckpointManager.open(proj.checkpoint)) as runner:
            runner.run_available()
        assert sorted(az.ids().elements()) == ids
        assert "eager accounting" not in caplog.text, "the deferred attempt failed"
    finally:
        az.drop()


def test_parquet_reads_defer_too(tmp_path: Path, spark_engine: Any) -> None:  # noqa: F811
    import pyarrow as pa
    import pyarrow.parquet as pq

    pipe = PIPE.format(policy="").replace("format: jsonl", "format: parquet").replace(
        "      options: {schema: {id: int64, amount: double, qty: int64}}\n", ""
    )
    root = write_project(tmp_path / "p", {"p": pipe})
    landing = root / "data" / "landing"
    landing.mkdir(parents=True)
    for f in range(3):
        ids = list(range(f * 4, f * 4 + 4))
        pq.write_table(pa.table({"id": ids, "amount": [i * 1.5 for i in ids], "qty": ids}), landing / f"{f}.parquet")
    _run(root, spark_engine)
    table = DeltaTable(str(root / "data" / "lake" / "p")).to_pyarrow_table()
    assert sorted(table.column("id").to_pylist()) == list(range(12))
    assert table.column_names == ["id", "amount"]
    nodes = _commit(root)
    assert (nodes["raw"]["rows_in"], nodes["picked"]["rows_out"], nodes["lake"]["rows_out"]) == (12, 12, 12)
