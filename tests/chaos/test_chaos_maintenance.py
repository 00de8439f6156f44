"""SIGKILL the runtime at every protocol step — and in the middle of table maintenance — with
OPTIMIZE, VACUUM (no retention) and log checkpoints running every few batches: every record
lands exactly once, and a batch replayed after compaction and vacuum is still skipped."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import orjson
import pytest
from deltalake import DeltaTable

from odibi_stream.runtime.faults import POINTS
from tests.chaos.harness import kill_at_random, make_input, run_cli
from tests.conftest import write_project

pytestmark = pytest.mark.chaos

ODIBI = """\
project: chaos
checkpoint: {root: ./checkpoints, retain_batches: 3}
runtime: {lease_ttl_seconds: 1}
connections:
  local: {type: local, base_path: ./data}
maintenance:
  optimize: {every: 2 batches, target_file_size: 1MB}
  vacuum: {retain: 0s, every: 3 batches}
  checkpoint_every: 4 commits
"""

APPEND = """\
pipeline: events
on_error: dead_letter
dead_letter: {connection: local, path: lake/dlq, format: delta}
nodes:
  - name: raw
    read:
      connection: local
      format: jsonl
      path: landing/*.jsonl
      incremental: {mode: files, max_files_per_batch: 2, settle_seconds: 0}
  - name: sink
    depends_on: [raw]
    write: {connection: local, format: delta, path: lake/events, mode: append}
"""


def _ids(table: Path) -> Counter[int]:
    return Counter(DeltaTable(str(table)).to_pyarrow_table(columns=["id"]).column("id").to_pylist())


@pytest.mark.timeout(900)
def test_exactly_once_with_frequent_maintenance_under_kill9(tmp_path: Path) -> None:
    rng = random.Random(7)
    project = write_project(tmp_path / "p", {"events": APPEND}, odibi_yaml=ODIBI)
    landing = project / "data" / "landing"
    lake = project / "data" / "lake" / "events"
    expected = make_input(landing, n_files=10, rows_per_file=30)
    kills = 0
    points = [*POINTS, "during_maintenance", "during_maintenance"]
    rng.shuffle(points)
    for i, point in enumerate(points):
        if run_cli(project, "events", fault=f"{point}:{rng.randint(1, 2)}") != 0:
            kills += 1
        expected += make_input(landing, n_files=3, rows_per_file=30, start_id=10_000 * (i + 1))
    for _ in range(4):
        if kill_at_random(project, "events", rng, max_delay=3.0) != 0:
            kills += 1
    assert run_cli(project, "events") == 0
    got = _ids(lake)
    assert not {k: v for k, v in got.items() if v > 1}, f"duplicated ids after {kills} kills"
    assert set(got) == set(expected)
    assert kills >= len(points) // 2, "the harness should actually have killed the runtime"

    history = DeltaTable(str(lake)).history()
    operations = Counter(h["operation"] for h in history)
    assert operations["OPTIMIZE"] >= 3 and operations["VACUUM END"] >= 2, operations
    assert (lake / "_delta_log" / "_last_checkpoint").exists()
    # Vacuum really ran with no retention: only files of the current version remain on disk.
    on_disk = {p.name for p in lake.glob("*.parquet")}
    assert on_disk == {Path(u).name for u in DeltaTable(str(lake)).file_uris()}

    # A replay of the last committed batch after OPTIMIZE + VACUUM: drop its commit entry (a crash
    # between the sink write and the commit), run again: the sink skips it, nothing doubles.
    commits = project / "checkpoints" / "events" / "commits"
    last = max(int(p.stem) for p in commits.glob("*.json"))
    before = DeltaTable(str(lake)).version()
    (commits / f"{last}.json").unlink()
    assert run_cli(project, "events") == 0
    assert _ids(lake) == got
    story = orjson.loads((project / "checkpoints" / "events" / "stories" / f"{last:012d}.json").read_bytes())
    assert story["replayed"] is True
    assert story["outputs"][0]["sink"]["skipped"] is True
    assert story["outputs"][0]["sink"]["txn_version"] == last
    assert DeltaTable(str(lake)).version() - before == sum(
        {"optimize": 1, "vacuum": 2, "checkpoint": 0}[m["operation"]] for m in story["maintenance"] if not m["error"]
    ), "the replay wrote no data commit"
