"""FileSource: settle rule, markers, bounds, ordering, after_read, vanished files."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import IncrementalConfig, ReadConfig
from odibi_stream.connectors.files import FileSource, FilesSpec
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import ConfigError, SourceError


def write(path: Path, text: str, age: float = 60.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    t = time.time() - age
    os.utime(path, (t, t))
    return path


def source(root: Path, glob: str = "in/*.csv", **inc: Any) -> FileSource:
    read = ReadConfig(
        connection="c", format="csv", path=glob, incremental=IncrementalConfig(mode="files", **inc)
    )
    return FilesSpec("n", Location(uri=str(root / glob), storage_options={}, is_local=True), read).open()


def test_fresh_file_is_not_planned_until_settled(tmp_path: Path) -> None:
    write(tmp_path / "in/old.csv", "a\n1\n")
    write(tmp_path / "in/fresh.csv", "a\n2\n", age=0)
    src = source(tmp_path, settle_seconds=30)
    rng = src.plan(src.initial_state())
    assert rng is not None and [f["path"] for f in rng["files"]] == ["in/old.csv"]
    state = src.fold(src.initial_state(), rng)
    assert src.plan(state) is None
    assert src.lag(state) == {"files": 1}


def test_marker_settles_a_fresh_file_and_is_never_data(tmp_path: Path) -> None:
    write(tmp_path / "in/fresh.csv", "a\n2\n", age=0)
    src = source(tmp_path, glob="in/*", settle_seconds=3600, marker_suffix=".done")
    assert src.plan(src.initial_state()) is None
    write(tmp_path / "in/fresh.csv.done", "", age=0)
    rng = src.plan(src.initial_state())
    assert rng is not None and [f["path"] for f in rng["files"]] == ["in/fresh.csv"]


def test_order_by_mtime_then_path_and_max_files(tmp_path: Path) -> None:
    write(tmp_path / "in/b.csv", "a\n1\n", age=100)
    write(tmp_path / "in/a.csv", "a\n2\n", age=50)
    write(tmp_path / "in/c.csv", "a\n3\n", age=100)
    src = source(tmp_path, max_files_per_batch=2)
    state = src.initial_state()
    batches = []
    while (rng := src.plan(state)) is not None:
        batches.append([f["path"] for f in rng["files"]])
        state = src.fold(state, rng)
    assert batches == [["in/b.csv", "in/c.csv"], ["in/a.csv"]]


def test_max_bytes_but_always_one_file(tmp_path: Path) -> None:
    write(tmp_path / "in/big.csv", "a\n" + "1\n" * 100, age=100)
    write(tmp_path / "in/small.csv", "a\n1\n", age=50)
    src = source(tmp_path, max_bytes_per_batch=10)
    rng = src.plan(src.initial_state())
    assert rng is not None and [f["path"] for f in rng["files"]] == ["in/big.csv"]
    assert src.range_size(rng) == {"files": 1, "bytes": 202}


def test_rewritten_file_is_new_again(tmp_path: Path) -> None:
    f = write(tmp_path / "in/a.csv", "a\n1\n")
    src = source(tmp_path)
    rng = src.plan(src.initial_state())
    assert rng is not None
    state = src.fold(src.initial_state(), rng)
    write(f, "a\n1\n2\n")
    again = src.plan(state)
    assert again is not None and again["files"][0]["size"] == 6


def test_recursive_glob_skips_hidden_temp_files(tmp_path: Path) -> None:
    write(tmp_path / "in/2026/01/a.csv", "a\n1\n")
    write(tmp_path / "in/2026/.tmp-b.csv", "a\n1\n")
    write(tmp_path / "in/_c.csv", "a\n1\n")
    src = source(tmp_path, glob="in/**/*.csv")
    rng = src.plan(src.initial_state())
    assert rng is not None and [f["path"] for f in rng["files"]] == ["in/2026/01/a.csv"]
    read = ReadConfig(connection="c", format="csv", path="in/**/*.csv", incremental=IncrementalConfig(mode="files"))
    spec = FilesSpec("n", Location(uri=str(tmp_path / "in/**/*.csv")), read)
    assert spec.watch().paths == (tmp_path / "in",)


def test_read_exact_files_and_rejects(tmp_path: Path) -> None:
    write(tmp_path / "in/a.csv", "id\n1\n2\n")
    write(tmp_path / "in/b.csv", "id\n3\n4,5\n", age=30)
    src = source(tmp_path)
    rng = src.plan(src.initial_state())
    assert rng is not None
    result = src.read(PandasEngine(), rng)
    assert result.frame.column("id").to_pylist() == [1, 2, 3]
    assert [r.record for r in result.rejects] == ["4,5"]


def test_vanished_file_is_a_terminal_source_error(tmp_path: Path) -> None:
    f = write(tmp_path / "in/a.csv", "id\n1\n")
    src = source(tmp_path)
    rng = src.plan(src.initial_state())
    assert rng is not None
    f.unlink()
    with pytest.raises(SourceError) as info:
        src.read(PandasEngine(), rng)
    assert info.value.retryable is False and info.value.hint
    assert "odibi-stream retry" in info.value.hint and "odibi-stream skip" in info.value.hint


def test_after_read_archive_keeps_relative_path_and_tolerates_repeat(tmp_path: Path) -> None:
    write(tmp_path / "in/sub/a.csv", "id\n1\n")
    write(tmp_path / "in/sub/a.csv.ok", "")
    src = source(
        tmp_path,
        glob="in/**/*.csv",
        after_read="archive",
        archive_path="archive",
        marker_suffix=".ok",
    )
    rng = src.plan(src.initial_state())
    assert rng is not None
    src.on_commit(rng)
    src.on_commit(rng)
    assert (tmp_path / "archive/in/sub/a.csv").read_text() == "id\n1\n"
    assert (tmp_path / "archive/in/sub/a.csv.ok").exists()
    assert not (tmp_path / "in/sub/a.csv").exists()


def test_after_read_delete_tolerates_missing(tmp_path: Path) -> None:
    write(tmp_path / "in/a.csv", "id\n1\n")
    src = source(tmp_path, after_read="delete")
    rng = src.plan(src.initial_state())
    assert rng is not None
    src.on_commit(rng)
    src.on_commit(rng)
    assert not (tmp_path / "in/a.csv").exists()


def test_archive_folder_inside_glob_is_not_re_read(tmp_path: Path) -> None:
    write(tmp_path / "in/a.csv", "id\n1\n")
    src = source(tmp_path, glob="in/**/*.csv", after_read="archive", archive_path="in/done")
    rng = src.plan(src.initial_state())
    assert rng is not None
    src.on_commit(rng)
    assert (tmp_path / "in/done/in/a.csv").exists()
    assert src.plan(src.initial_state()) is None


def test_remote_location_rejected(tmp_path: Path) -> None:
    read = ReadConfig(
        connection="c", format="csv", path="x/*.csv", incremental=IncrementalConfig(mode="files")
    )
    with pytest.raises(ConfigError):
        FilesSpec("n", Location(uri="az://c/x/*.csv", storage_options={}, is_local=False), read)


def test_max_records_per_batch_bounds_file_batches(tmp_path: Path) -> None:
    from odibi_stream.connectors.files import count_records

    folder = tmp_path / "in"
    folder.mkdir()
    for i, n in enumerate([3, 4, 2, 5]):
        (folder / f"f{i}.jsonl").write_text("".join('{"a": 1}\n' for _ in range(n)))
        os.utime(folder / f"f{i}.jsonl", ns=(10**18 + i, 10**18 + i))
    (folder / "g.csv").write_text("a,b\n1,2\n3,4")
    assert count_records(folder / "g.csv", "csv", header=True) == 2
    assert count_records(folder / "g.csv", "csv", header=False) == 3
    read = ReadConfig(
        connection="local", format="jsonl", path="in/*.jsonl",
        incremental=IncrementalConfig(mode="files", max_records_per_batch=7, settle_seconds=0),
    )
    src = FilesSpec("n", Location(uri=str(folder / "*.jsonl"), storage_options={}, is_local=True), read).open()
    state = src.initial_state()
    sizes = []
    while (rng := src.plan(state)) is not None:
        sizes.append([f["path"] for f in rng["files"]])
        state = src.fold(state, rng)
    assert sizes == [["in/f0.jsonl", "in/f1.jsonl"], ["in/f2.jsonl", "in/f3.jsonl"]]  # 3+4, 2+5


def test_headerless_csv_records_are_all_counted_for_batch_bounds(tmp_path: Path) -> None:
    # header: false means no line is a header: every line is a record when bounding batches.
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"f{i}.csv").write_text("1,a\n2,b\n3,c\n")
        os.utime(folder / f"f{i}.csv", ns=(10**18 + i, 10**18 + i))
    read = ReadConfig(
        connection="local", format="csv", path="in/*.csv", options={"header": False},
        incremental=IncrementalConfig(mode="files", max_records_per_batch=6, settle_seconds=0),
    )
    src = FilesSpec("n", Location(uri=str(folder / "*.csv"), storage_options={}, is_local=True), read).open()
    state = src.initial_state()
    batches = []
    while (rng := src.plan(state)) is not None:
        batches.append([f["path"] for f in rng["files"]])
        state = src.fold(state, rng)
    assert batches == [["in/f0.csv", "in/f1.csv"], ["in/f2.csv"]]  # 3+3 rows, then 3
