"""Files source cost independent of history: in-place seen set, watcher-fed plans, max_file_age."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import IncrementalConfig, ReadConfig
from odibi_stream.connectors.files import FileSource, FilesSpec
from odibi_stream.connectors.files_plan import glob_matches
from odibi_stream.connectors.files_state import SeenIndex


def write(path: Path, text: str = "a\n1\n", age: float = 60.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    t = time.time() - age
    os.utime(path, (t, t))
    return path


def spec(root: Path, glob: str = "in/*.csv", **inc: Any) -> FilesSpec:
    read = ReadConfig(connection="c", format="csv", path=glob, incremental=IncrementalConfig(mode="files", **inc))
    return FilesSpec("n", Location(uri=str(root / glob), storage_options={}, is_local=True), read)


def rng(*names: str, mtime: int = 1) -> dict[str, Any]:
    return {"files": [{"path": n, "size": 1, "mtime_ns": mtime} for n in names]}


def test_fold_reuses_only_the_set_it_returned_and_stays_pure_for_others() -> None:
    index = SeenIndex(None)
    snapshot_state = {"seen": {"a": [1, 1]}}  # a v1 state, as an older release wrote it
    s1 = index.fold(snapshot_state, rng("b"))
    assert snapshot_state == {"seen": {"a": [1, 1]}}, "a state it did not create was modified"
    assert s1 == {"version": 2, "seen": {"a": [1, 1], "b": [1, 1]}, "newest_ns": 1}
    s2 = index.fold(s1, rng("c", mtime=5))
    assert s2["seen"] is s1["seen"], "the in-memory set is copied at every batch"
    assert s2["newest_ns"] == 5 and set(s2["seen"]) == {"a", "b", "c"}
    other = SeenIndex(None).fold(s1, rng("d"))  # another reader's state: copied
    assert "d" not in s1["seen"] and "d" in other["seen"]


def test_max_file_age_prunes_the_seen_set() -> None:
    index = SeenIndex(max_age_ns=100)
    state: dict[str, Any] = {"seen": {}}
    for i in range(3000):
        state = index.fold(state, rng(f"f{i}", mtime=i))
    # Horizon = newest (2999) - 100: older identities are dropped (amortised: a pass each time
    # the set doubles, at least 1024 entries), so it never holds all 3000.
    assert len(state["seen"]) < 2100
    assert "f2999" in state["seen"] and "f10" not in state["seen"]


def test_files_older_than_the_horizon_are_ignored(tmp_path: Path) -> None:
    write(tmp_path / "in/new.csv", age=10)
    src = spec(tmp_path, max_file_age="1h", settle_seconds=0).open()
    state = src.initial_state()
    first = src.plan(state)
    assert first is not None and [f["path"] for f in first["files"]] == ["in/new.csv"]
    state = src.fold(state, first)
    write(tmp_path / "in/ancient.csv", age=3 * 3600)  # landed late, modified long before
    write(tmp_path / "in/recent.csv", age=5)
    nxt = src.plan(state)
    assert nxt is not None and [f["path"] for f in nxt["files"]] == ["in/recent.csv"]
    state = src.fold(state, nxt)
    assert src.plan(state) is None and src.lag(state) == {"files": 0}
    # Without max_file_age the same late file is read.
    plain = spec(tmp_path, settle_seconds=0).open()
    assert plain.plan(state) is not None


def test_with_a_watcher_plans_look_at_changed_paths_only(tmp_path: Path) -> None:
    for i in range(5):
        write(tmp_path / f"in/old{i}.csv")
    s = spec(tmp_path, settle_seconds=0)
    events = s.events
    events.attach()  # what the file_watch trigger does when it starts
    src: FileSource = s.open()
    state = src.initial_state()
    first = src.plan(state)  # the first plan always lists in full
    assert first is not None and len(first["files"]) == 5
    state = src.fold(state, first)
    write(tmp_path / "in/unannounced.csv")  # no event: a plan must not find it by listing
    assert src.plan(state) is None
    announced = write(tmp_path / "in/announced.csv")
    events.changed(str(announced))
    got = src.plan(state)
    assert got is not None and [f["path"] for f in got["files"]] == ["in/announced.csv"]
    state = src.fold(state, got)
    events.lost()  # the reconciliation: a full listing finds what events missed
    late = src.plan(state)
    assert late is not None and [f["path"] for f in late["files"]] == ["in/unannounced.csv"]
    events.changed(str(tmp_path / "in" / "sub" / "x.csv"))  # outside the glob: ignored
    events.changed(str(tmp_path / "in" / ".tmp.csv"))
    assert src.plan(src.fold(state, late)) is None
    events.detach()  # no watcher: every plan lists
    write(tmp_path / "in/after.csv")
    assert src.plan(src.fold(state, late)) is not None


def test_glob_matching_like_the_listing() -> None:
    assert glob_matches(["in", "*.csv"], ["in", "a.csv"])
    assert not glob_matches(["in", "*.csv"], ["in", "sub", "a.csv"])
    assert glob_matches(["in", "**", "*.csv"], ["in", "a.csv"])
    assert glob_matches(["in", "**", "*.csv"], ["in", "x", "y", "a.csv"])
    assert not glob_matches(["in", "**", "*.csv"], ["out", "a.csv"])


def test_watcher_fed_plans_apply_the_listing_rules(tmp_path: Path) -> None:
    """A path named by an event is planned only if the listing would list it: no symbolic
    link, no FIFO, nothing under archive_path, no temp or marker names."""
    outside = write(tmp_path / "secret.csv")
    s = spec(tmp_path, glob="in/**/*.csv", settle_seconds=0, after_read="archive", archive_path="in/archive")
    s.events.attach()
    src = s.open()
    state = src.initial_state()
    assert src.plan(state) is None  # the first (full) plan: nothing yet
    (tmp_path / "in").mkdir(exist_ok=True)
    link = tmp_path / "in" / "link.csv"
    link.symlink_to(outside)
    fifo = tmp_path / "in" / "pipe.csv"
    os.mkfifo(fifo)
    archived = write(tmp_path / "in/archive/old.csv")
    temp = write(tmp_path / "in/_partial.csv")
    for path in (link, fifo, archived, temp):
        s.events.changed(str(path))
    assert src.plan(state) is None
    real = write(tmp_path / "in/sub/real.csv")
    s.events.complete(str(real))
    got = src.plan(state)
    assert got is not None and [f["path"] for f in got["files"]] == ["in/sub/real.csv"]
