"""Issue 17 finding 1: a landing-folder writer cannot make the files source read outside it.

Symlinks are not followed (unless ``follow_symlinks``, and then only inside the connection
root), special files are never opened, and a file swapped for a link between plan and read is
refused. Each test fails on the old ``FileSource`` (``Path.glob`` + ``is_file()`` followed links).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import IncrementalConfig, ReadConfig
from odibi_stream.connectors.files import FileSource, FilesSpec
from odibi_stream.connectors.local_files import list_glob
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import SourceError


def write(path: Path, text: str, age: float = 60.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    t = time.time() - age
    os.utime(path, (t, t))
    return path


def source(root: Path, glob: str = "in/*.jsonl", **inc: Any) -> FileSource:
    read = ReadConfig(
        connection="c", format="jsonl", path=glob, incremental=IncrementalConfig(mode="files", **inc)
    )
    return FilesSpec("n", Location(uri=str(root / glob), is_local=True), read).open()


def planned(src: FileSource) -> list[str]:
    rng = src.plan(src.initial_state())
    return [f["path"] for f in rng["files"]] if rng else []


def test_symlink_to_proc_self_environ_is_never_listed_or_read(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "in/good.jsonl", '{"id": 1}\n')
    (root / "in/environ.jsonl").symlink_to("/proc/self/environ")
    (root / "in/passwd.jsonl").symlink_to("/etc/passwd")
    src = source(root, settle_seconds=0)
    assert planned(src) == ["in/good.jsonl"]
    assert src.lag(src.initial_state()) == {"files": 1}


def test_linked_folder_outside_the_root_is_not_walked(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside / "secret.jsonl", '{"id": 666}\n')
    root = tmp_path / "data"
    write(root / "in/a/ok.jsonl", '{"id": 1}\n')
    (root / "in/b").symlink_to(outside, target_is_directory=True)
    for glob in ("in/**/*.jsonl", "in/*/*.jsonl"):
        assert planned(source(root, glob=glob)) == ["in/a/ok.jsonl"]
    # Following links is opt-in and still never leaves the connection root.
    assert planned(source(root, glob="in/**/*.jsonl", follow_symlinks=True)) == ["in/a/ok.jsonl"]


def test_follow_symlinks_reads_link_targets_inside_the_root_only(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "store/real.jsonl", '{"id": 7}\n')
    write(tmp_path / "outside.jsonl", '{"id": 666}\n')
    (root / "in").mkdir(parents=True)
    (root / "in/inside.jsonl").symlink_to(root / "store/real.jsonl")
    (root / "in/outside.jsonl").symlink_to(tmp_path / "outside.jsonl")
    assert planned(source(root)) == []
    src = source(root, follow_symlinks=True)
    rng = src.plan(src.initial_state())
    assert rng is not None and [f["path"] for f in rng["files"]] == ["in/inside.jsonl"]
    assert src.read(PandasEngine(), rng).frame.column("id").to_pylist() == [7]


def test_fifo_in_the_landing_folder_is_never_opened(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "in/good.jsonl", '{"id": 1}\n')
    os.mkfifo(root / "in/pipe.jsonl")  # opening it for reading would block forever
    src = source(root)
    started = time.monotonic()
    rng = src.plan(src.initial_state())
    assert rng is not None and [f["path"] for f in rng["files"]] == ["in/good.jsonl"]
    assert src.read(PandasEngine(), rng).frame.column("id").to_pylist() == [1]
    assert time.monotonic() - started < 5


def test_file_swapped_for_a_link_after_planning_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    target = write(tmp_path / "secret.jsonl", '{"id": 666}\n')
    f = write(root / "in/a.jsonl", '{"id": 1}\n')
    src = source(root)
    rng = src.plan(src.initial_state())
    assert rng is not None
    f.unlink()
    f.symlink_to(target)
    with pytest.raises(SourceError) as info:
        src.read(PandasEngine(), rng)
    assert info.value.retryable is False
    assert "666" not in str(info.value)


def test_folder_swapped_for_a_link_after_planning_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(tmp_path / "elsewhere/a.jsonl", '{"id": 666}\n')
    write(root / "in/sub/a.jsonl", '{"id": 1}\n')
    src = source(root, glob="in/**/*.jsonl")
    rng = src.plan(src.initial_state())
    assert rng is not None
    (root / "in/sub/a.jsonl").unlink()
    (root / "in/sub").rmdir()
    (root / "in/sub").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(SourceError):
        src.read(PandasEngine(), rng)


def test_delete_after_read_through_a_swapped_folder_deletes_nothing_outside(tmp_path: Path) -> None:
    root = tmp_path / "data"
    victim = write(tmp_path / "elsewhere/a.jsonl", "keep me\n")
    write(root / "in/sub/a.jsonl", '{"id": 1}\n')
    src = source(root, glob="in/**/*.jsonl", after_read="delete")
    rng = src.plan(src.initial_state())
    assert rng is not None
    src.read(PandasEngine(), rng)
    (root / "in/sub/a.jsonl").unlink()
    (root / "in/sub").rmdir()
    (root / "in/sub").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    src.on_commit(rng)  # logged and skipped, never followed
    assert victim.read_text() == "keep me\n"


def test_rejects_name_the_real_file_not_a_descriptor(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write(root / "in/a.jsonl", '{"id": 1}\nnot json\n')
    src = source(root)
    rng = src.plan(src.initial_state())
    assert rng is not None
    result = src.read(PandasEngine(), rng)
    assert [r.source for r in result.rejects] == [f"{root / 'in/a.jsonl'}:2"]


FILES = ["landing/a.csv", "landing/.h.csv", "landing/2024/01/c.csv", "landing/2024/e.csv",
         "landing/x[1].csv", "other/f.csv", "top.csv"]


@pytest.mark.parametrize(
    "pattern",
    ["landing/*.csv", "landing/**/*.csv", "landing/2024/*/*.csv", "**/*.csv", "landing/?.csv",
     "landing/[ab].*", "*.csv", "top.csv", "landing/**", "**"],
)
def test_walk_lists_what_pathlib_glob_lists_on_a_plain_tree(tmp_path: Path, pattern: str) -> None:
    for rel in FILES:
        write(tmp_path / rel, "x")
    expected = sorted(
        p.relative_to(tmp_path).as_posix() for p in tmp_path.glob(pattern) if p.is_file()
    )
    got = sorted(f.rel for f in list_glob(tmp_path, pattern.split("/")))
    assert got == expected
