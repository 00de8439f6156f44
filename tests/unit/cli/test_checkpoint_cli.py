"""The ``odibi-stream checkpoint`` commands, run as real subprocesses on a real project."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from odibi_stream.checkpoints.entries import CommitEntry, OffsetsEntry
from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.checkpoints.log import PipelineLog
from odibi_stream.core.clock import utc_now
from tests.conftest import CLI, cli_env, write_project

REPO = Path(__file__).resolve().parents[3]

PIPELINE = """\
pipeline: orders
nodes:
  - name: raw
    read:
      connection: local
      format: csv
      path: landing/*.csv
      incremental:
        mode: files
    write:
      connection: local
      format: delta
      path: tables/orders
"""


def _files(n: int) -> dict[str, Any]:
    return {"files": [{"path": f"landing/f{n}.csv", "size": 10 + n, "mtime_ns": n}]}


def _plan(n: int) -> OffsetsEntry:
    return OffsetsEntry(n, 1, utc_now(), {"raw": _files(n)}, {"raw": n}, "fp")


def _commit(n: int) -> CommitEntry:
    node = {"rows_in": 5, "rows_out": 4, "rejected": 1, "late": 0, "sink": {"version": n}}
    return CommitEntry(
        n, 1, utc_now(), {"raw": _files(n)}, {"raw": n}, {"raw": node}
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj", {"orders": PIPELINE})


@pytest.fixture
def log(project: Path) -> PipelineLog:
    return PipelineLog(LocalCheckpointStore(project / "checkpoints"), "orders")


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "checkpoint", *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        input=stdin,
        timeout=60,
    )


def show_json(project: Path) -> dict[str, Any]:
    res = run("show", str(project), "--pipeline", "orders", "--json")
    assert res.returncode == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def _three_committed_one_pending(log: PipelineLog) -> None:
    log.ensure_metadata("fp")
    for n in range(3):
        log.write_offsets(_plan(n))
        log.write_commit(_commit(n))
    log.write_offsets(_plan(3))


def test_show_empty_checkpoint(project: Path) -> None:
    doc = show_json(project)
    assert doc["last_committed"] == -1
    assert doc["pending"] is None and doc["next_batch"] == 0
    assert doc["checkpoint"].startswith("file://") and doc["checkpoint"].endswith("/orders")


def test_show_reports_positions_watermarks_and_pending(project: Path, log: PipelineLog) -> None:
    _three_committed_one_pending(log)
    doc = show_json(project)
    assert doc["last_committed"] == 2
    assert doc["pending"]["batch"] == 3
    assert doc["pending"]["sources"] == {"raw": _files(3)}
    assert doc["sources"] == {"raw": {"committed": _files(2), "snapshot": None}}
    assert doc["watermarks"] == {"raw": 2}
    assert doc["problems"] == []
    human = run("show", str(project), "--pipeline", "orders")
    assert human.returncode == 0, human.stderr
    assert "pending batch" in human.stdout and "will be replayed" in human.stdout
    assert "f2.csv" in human.stdout


def test_show_reports_corruption_without_moving_files(project: Path, log: PipelineLog) -> None:
    _three_committed_one_pending(log)
    torn = project / "checkpoints" / "orders" / "offsets" / "3.json"
    torn.write_bytes(torn.read_bytes()[:20])
    doc = show_json(project)
    assert doc["pending"] is None
    assert len(doc["problems"]) == 1 and "offsets/3.json" in doc["problems"][0]
    assert torn.exists()


def test_history_lists_newest_first(project: Path, log: PipelineLog) -> None:
    _three_committed_one_pending(log)
    res = run("history", str(project), "--pipeline", "orders", "--json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [(r["batch"], r["status"]) for r in rows] == [
        (3, "pending"),
        (2, "committed"),
        (1, "committed"),
        (0, "committed"),
    ]
    assert rows[1]["rows_in"] == 5 and rows[1]["rejected"] == 1
    human = run("history", str(project), "--pipeline", "orders", "--limit", "2")
    assert human.returncode == 0, human.stderr
    assert "pending" in human.stdout and "committed" in human.stdout


def test_skip_commits_the_pending_batch(project: Path, log: PipelineLog) -> None:
    _three_committed_one_pending(log)
    res = run("skip", str(project), "--pipeline", "orders", "--yes")
    assert res.returncode == 0, res.stderr
    assert "skipped batch 3" in res.stdout
    doc = show_json(project)
    assert doc["last_committed"] == 3 and doc["pending"] is None
    again = run("skip", str(project), "--pipeline", "orders", "--yes")
    assert again.returncode == 1
    assert "no pending batch" in again.stderr


def test_rewind_asks_for_confirmation(project: Path, log: PipelineLog) -> None:
    _three_committed_one_pending(log)
    declined = run("rewind", str(project), "--pipeline", "orders", "--to", "0", stdin="n\n")
    assert declined.returncode != 0
    assert show_json(project)["last_committed"] == 2  # nothing changed
    accepted = run("rewind", str(project), "--pipeline", "orders", "--to", "0", stdin="y\n")
    assert accepted.returncode == 0, accepted.stderr
    doc = show_json(project)
    # Numbers move forward past the highest planned batch (3) so sinks write the re-read input.
    assert (doc["last_committed"], doc["pending"], doc["next_batch"]) == (3, None, 4)


def test_reset_starts_over_with_fresh_batch_numbers(project: Path, log: PipelineLog) -> None:
    _three_committed_one_pending(log)
    res = run("reset", str(project), "--pipeline", "orders", "--yes")
    assert res.returncode == 0, res.stderr
    doc = show_json(project)
    assert (doc["last_committed"], doc["pending"], doc["next_batch"]) == (3, None, 4)


def test_unknown_pipeline_is_a_config_error(project: Path) -> None:
    res = run("show", str(project), "--pipeline", "ordres")
    assert res.returncode == 2
    assert "unknown pipeline" in res.stderr and "did you mean 'orders'" in res.stderr
