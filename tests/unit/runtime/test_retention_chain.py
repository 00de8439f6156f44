"""Incremental snapshots: a large state becomes a base plus segments; recovery stays exact."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from odibi_stream.checkpoints import state_chain
from tests.conftest import land, write_project
from tests.unit.runtime.helpers import csv_lines, delta_rows, runner

PIPE = """\
pipeline: orders
nodes:
  - name: raw
    read:
      connection: local
      format: csv
      path: landing/*.csv
      options: {schema: {id: int64, amount: double}}
      incremental: {mode: files, max_files_per_batch: 1, settle_seconds: 0}
  - name: out
    depends_on: [raw]
    write: {connection: local, format: delta, path: lake/out, mode: append}
"""
ODIBI = """\
project: t
checkpoint: {root: ./checkpoints, retain_batches: 2}
connections:
  local: {type: local, base_path: ./data}
"""


def _doc(path: Path) -> dict:
    return orjson.loads(path.read_bytes())


def test_large_snapshots_chain_and_recovery_is_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_chain, "SMALL_SNAPSHOT_BYTES", 600)  # a few files' identities
    project = write_project(tmp_path / "p", {"orders": PIPE}, odibi_yaml=ODIBI)
    landing = project / "data" / "landing"
    ckpt = project / "checkpoints" / "orders"
    sizes = []
    for f in range(40):
        land(landing, f"o{f:03d}.csv", csv_lines(range(f * 2, f * 2 + 2)))
        r = runner(project, "orders")  # a restarted process each time: recovery from the chain
        assert len(r.run_available()) == 1
        r.close()
        sizes.append(len((ckpt / "snapshot.json").read_bytes()) if (ckpt / "snapshot.json").exists() else 0)
    snap = _doc(ckpt / "snapshot.json")
    assert snap["version"] == 2 and "chain" in snap["extra"] and snap["states"] == {}
    state_files = sorted(p.name for p in (ckpt / "state").iterdir())
    chain = snap["extra"]["chain"]
    assert f"base-{chain['base']}.json" in state_files
    assert len(state_files) == 1 + len(chain["segments"]), "unreferenced state files were not swept"
    # The pointer stays small while the state grows: snapshot bytes do not follow history.
    assert max(sizes[-10:]) < 600
    assert runner(project, "orders").run_batch() is None, "compacted files must stay processed"
    assert sorted(r["id"] for r in delta_rows(project / "data" / "lake" / "out")) == list(range(80))
    from odibi_stream.checkpoints.local import LocalCheckpointStore
    from odibi_stream.checkpoints.manager import CheckpointManager
    from odibi_stream.checkpoints.store import CheckpointStore
    from odibi_stream.cli.checkpoint import show_document

    store: CheckpointStore = LocalCheckpointStore(project / "checkpoints")
    manager = CheckpointManager(store)
    doc = show_document(manager, manager.log("orders"))
    assert doc["snapshot_chain"]["base_batch"] == chain["base"]
    assert "landing/o000.csv" in doc["sources"]["raw"]["snapshot"]["seen"]


def test_rewind_through_a_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from odibi_stream.runtime.repair import rewind

    monkeypatch.setattr(state_chain, "SMALL_SNAPSHOT_BYTES", 600)
    project = write_project(tmp_path / "p", {"orders": PIPE}, odibi_yaml=ODIBI)
    landing = project / "data" / "landing"
    for f in range(20):
        land(landing, f"o{f:03d}.csv", csv_lines(range(f, f + 1)))
    r = runner(project, "orders")
    assert len(r.run_available()) == 20
    last = r.log.recover().last_committed
    nxt = rewind(r.live, r.log, last - 1)  # re-read the last file only
    r.close()
    again = runner(project, "orders").run_available()
    assert nxt == last + 1 and [b.rows_in for b in again] == [1]


def test_an_old_inline_snapshot_is_read(tmp_path: Path) -> None:
    """Checkpoints written before chains (version 1, states inline, v1 files state) resume."""
    from odibi_stream.checkpoints.entries import Snapshot, encode

    project = write_project(tmp_path / "p", {"orders": PIPE}, odibi_yaml=ODIBI)
    landing = project / "data" / "landing"
    done = land(landing, "old.csv", csv_lines(range(0, 2)))
    st = done.stat()
    ckpt = project / "checkpoints" / "orders"
    ckpt.mkdir(parents=True)
    seen = {"landing/old.csv": [st.st_size, st.st_mtime_ns]}
    snap = Snapshot(batch=0, states={"raw": {"seen": seen}}, watermarks={})
    (ckpt / "snapshot.json").write_bytes(encode(snap))
    assert _doc(ckpt / "snapshot.json")["version"] == 1
    land(landing, "new.csv", csv_lines(range(2, 4)))
    got = runner(project, "orders").run_available()
    assert [b.batch for b in got] == [1] and [b.rows_in for b in got] == [2]
