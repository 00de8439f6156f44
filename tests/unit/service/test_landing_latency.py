"""A file closed after writing, or renamed in, is read at once under ``file_watch``.

The daemon here is the real one (``Runtime.background()``: managers, leases, the shared
watchdog observer). ``settle_seconds`` is set to an hour, so the age-based fallback cannot be
what lets a file through: only the close/rename event can. A file still open for writing must
stay out of every batch.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from odibi_stream.api import Runtime
from tests.unit.service.runtime_projects import ProjectBuilder, wait_for

PIPE = """pipeline: {name}
trigger: {{file_watch: {{debounce_ms: 5, reconcile_seconds: 3600}}}}
nodes:
  - name: src
    read:
      connection: local
      format: csv
      path: landing/{name}/*.csv
      incremental: {{mode: files{extra}}}
  - name: out
    depends_on: [src]
    write: {{connection: local, format: delta, path: tables/{name}, mode: append}}
"""


@pytest.fixture
def project(tmp_path: Path) -> ProjectBuilder:
    b = ProjectBuilder(tmp_path / "proj")
    for name, extra in (("slow", ", settle_seconds: 3600"), ("default", "")):
        (b.root / "pipelines" / f"{name}.yaml").write_text(PIPE.format(name=name, extra=extra))
        (b.root / "data" / "landing" / name).mkdir(parents=True)
    return b


def _write(path: Path, ids: list[int]) -> None:
    with open(path, "w") as fh:  # written in place and closed: IN_CLOSE_WRITE
        fh.write("id,val\n" + "".join(f"{i},{i}\n" for i in ids))


def test_closed_and_renamed_files_skip_the_settle_delay(project: ProjectBuilder) -> None:
    landing = project.root / "data" / "landing" / "slow"
    with Runtime.from_project(project.root, port=0).background():
        _write(landing / "a.csv", [1, 2])
        wait_for(lambda: project.ids("slow") == [1, 2], 30, "closed file committed")
        project.drop("slow", "b.csv", [3])  # written outside the folder, renamed in
        wait_for(lambda: project.ids("slow") == [1, 2, 3], 30, "renamed-in file committed")
        with open(landing / "open.csv", "w") as still_open:
            still_open.write("id,val\n7,7\n")
            still_open.flush()
            _write(landing / "c.csv", [4])
            wait_for(lambda: project.ids("slow") == [1, 2, 3, 4], 30, "closed file next to an open one")
            assert 7 not in project.ids("slow"), "a file still open for writing was read"
            still_open.write("8,8\n")
        wait_for(lambda: project.ids("slow") == [1, 2, 3, 4, 7, 8], 30, "file read once closed")


def test_default_settings_commit_well_under_the_settle_delay(project: ProjectBuilder) -> None:
    landing = project.root / "data" / "landing" / "default"
    with Runtime.from_project(project.root, port=0).background():
        _write(landing / "warm.csv", [0])  # first batch creates the table: not timed
        wait_for(lambda: project.ids("default") == [0], 30, "warm-up")
        took = []
        for i in (1, 2, 3):
            t0 = time.monotonic()
            _write(landing / f"f{i}.csv", [i])
            wait_for(lambda i=i: i in project.ids("default"), 30, f"file {i}")  # type: ignore[misc]
            took.append(time.monotonic() - t0)
    # The default settle delay is 1 s; the median must be far below it (loaded 2-core CI).
    assert sorted(took)[1] < 0.8, f"landed -> committed took {took}"


def test_a_rewrite_after_the_close_waits_for_the_fallback(tmp_path: Path) -> None:
    """Only the identity seen at close counts: appending after it makes the file unsettled."""
    from odibi_stream.core.landing import LandingEvents

    folder = tmp_path / "in"
    folder.mkdir()
    events = LandingEvents((str(folder),))
    path = folder / "x.csv"
    _write(path, [1])
    events.complete(str(path))
    st = path.stat()
    assert events.completed(str(path), st.st_size, st.st_mtime_ns)
    with open(path, "a") as fh:
        fh.write("2,2\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    st2 = path.stat()
    assert not events.completed(str(path), st2.st_size, st2.st_mtime_ns)
    events.changed(str(path))
    assert not events.completed(str(path), st.st_size, st.st_mtime_ns)
    assert not events.owns(str(tmp_path / "elsewhere" / "y.csv"))
