"""SIGKILL the runtime at every protocol step and at random instants; every record lands once."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from deltalake import DeltaTable

from odibi_stream.runtime.faults import CHAIN_POINTS, POINTS
from tests.chaos.harness import kill_at_random, make_input, run_cli
from tests.conftest import write_project

pytestmark = pytest.mark.chaos

# A short retention so compaction (and a kill during it) is part of every run.
ODIBI = """\
project: chaos
checkpoint: {root: ./checkpoints, retain_batches: 3}
# A killed run holds its lease until it expires: keep restarts quick.
runtime: {lease_ttl_seconds: 1}
connections:
  local: {type: local, base_path: ./data}
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
      incremental: {mode: files, max_files_per_batch: 3, settle_seconds: 0}
  - name: shaped
    depends_on: [raw]
    transform: {sql: "SELECT id, amount * 2 AS doubled, kind FROM raw WHERE amount >= 0"}
  - name: sink
    depends_on: [shaped]
    write: {connection: local, format: delta, path: lake/events, mode: append}
"""

MERGE = """\
pipeline: latest
nodes:
  - name: raw
    read:
      connection: local
      format: jsonl
      path: landing/*.jsonl
      incremental: {mode: files, max_files_per_batch: 2, settle_seconds: 0}
  - name: keyed
    depends_on: [raw]
    transform: {sql: "SELECT id % 50 AS key, max(id) AS last_id, count(*) AS n FROM raw GROUP BY 1"}
  - name: sink
    depends_on: [keyed]
    write: {connection: local, format: delta, path: lake/latest, mode: merge, merge_keys: [key]}
"""


def _ids(table: Path) -> Counter[int]:
    return Counter(DeltaTable(str(table)).to_pyarrow_table(columns=["id"]).column("id").to_pylist())


@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", [1, 2])
def test_append_exactly_once_under_kill9(tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    if seed == 2:  # the seen set as a chained snapshot (base + segments) from the first compaction
        monkeypatch.setenv("ODIBI_SNAPSHOT_INLINE_BYTES", "300")
    rng = random.Random(seed)
    project = write_project(tmp_path / "p", {"events": APPEND}, odibi_yaml=ODIBI)
    landing = project / "data" / "landing"
    expected = make_input(landing, n_files=12, rows_per_file=40)
    kills = 0
    # Every protocol step, at a random occurrence, plus random instants; new files keep arriving.
    steps = list(POINTS)
    rng.shuffle(steps)
    for i, point in enumerate(steps):
        if run_cli(project, "events", fault=f"{point}:{rng.randint(1, 2)}") != 0:
            kills += 1
        expected += make_input(landing, n_files=2, rows_per_file=40, start_id=10_000 * (i + 1))
    for _ in range(4):
        if kill_at_random(project, "events", rng, max_delay=3.0) != 0:
            kills += 1
    assert run_cli(project, "events") == 0
    got = _ids(project / "data" / "lake" / "events")
    dupes = {k: v for k, v in got.items() if v > 1}
    assert not dupes, f"duplicated ids after {kills} kills: {sorted(dupes)[:10]}"
    assert set(got) == set(expected), f"missing {sorted(set(expected) - set(got))[:10]}"
    assert kills >= len(steps) // 2, "the harness should actually have killed the runtime"
    if seed == 2:
        snapshot = (project / "checkpoints" / "events" / "snapshot.json").read_bytes()
        assert b'"chain"' in snapshot, "the chained snapshot path was not exercised"


@pytest.mark.timeout(600)
def test_chained_snapshot_exactly_once_under_kill9(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kills while a large seen set is compacted into a chain (segment written, pointer not)."""
    monkeypatch.setenv("ODIBI_SNAPSHOT_INLINE_BYTES", "300")
    project = write_project(tmp_path / "p", {"events": APPEND}, odibi_yaml=ODIBI)
    landing = project / "data" / "landing"
    expected = make_input(landing, n_files=12, rows_per_file=10)
    kills = 0
    for i in range(8):
        point = CHAIN_POINTS[i % len(CHAIN_POINTS)]
        if run_cli(project, "events", fault=f"{point}:1") != 0:
            kills += 1
        expected += make_input(landing, n_files=6, rows_per_file=10, start_id=10_000 * (i + 1))
    assert run_cli(project, "events") == 0
    got = _ids(project / "data" / "lake" / "events")
    assert not {k for k, v in got.items() if v > 1}, "duplicated ids"
    assert set(got) == set(expected), f"missing {sorted(set(expected) - set(got))[:10]}"
    assert kills >= 4, f"only {kills} runs were killed in a compaction"
    snapshot = (project / "checkpoints" / "events" / "snapshot.json").read_bytes()
    assert b'"chain"' in snapshot, "the chained snapshot path was not exercised"


@pytest.mark.timeout(600)
def test_merge_exactly_once_under_kill9(tmp_path: Path) -> None:
    rng = random.Random(42)
    project = write_project(tmp_path / "p", {"latest": MERGE}, odibi_yaml=ODIBI)
    landing = project / "data" / "landing"
    expected = make_input(landing, n_files=10, rows_per_file=30)
    for point in POINTS:
        run_cli(project, "latest", fault=f"{point}:{rng.randint(1, 2)}")
    for _ in range(3):
        kill_at_random(project, "latest", rng, max_delay=3.0)
    assert run_cli(project, "latest") == 0
    rows = DeltaTable(str(project / "data" / "lake" / "latest")).to_pyarrow_table().to_pylist()
    keys = Counter(r["key"] for r in rows)
    assert all(v == 1 for v in keys.values()), "merge keys must be unique"
    # Each batch upserts per key; the final row per key is the one from the last batch holding it.
    expected_last = {}
    for i in sorted(expected):
        expected_last[i % 50] = i
    by_key = {r["key"]: r["last_id"] for r in rows}
    assert set(by_key) == set(expected_last)
    # files are processed in (mtime, name) order, ids ascend with names, so the last batch wins
    assert by_key == expected_last
