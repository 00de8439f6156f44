"""``odibi-stream serve`` as real processes: drain on SIGTERM, two daemons, reload, idle CPU."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import orjson
import pytest

from tests.integration.daemon.daemon_procs import DaemonProc, cpu_ticks
from tests.unit.service.runtime_projects import ProjectBuilder, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def procs(tmp_path: Path):
    started: list[DaemonProc] = []

    def start(root: Path, *extra: str) -> DaemonProc:
        started.append(DaemonProc(root, tmp_path / f"daemon{len(started)}.log", *extra))
        return started[-1]

    yield start
    for p in started:
        p.close()


@pytest.mark.parametrize(("grace", "clean"), [(20.0, True), (0.5, False)])
def test_sigterm_during_a_long_batch(tmp_path: Path, procs, grace: float, clean: bool) -> None:
    proj = ProjectBuilder(tmp_path / "proj", grace=grace, ttl=2.0)
    proj.pipeline("slow", function="slow", params="{seconds: 3}")
    daemon = procs(proj.root)
    proj.drop("slow", "a.csv", [1, 2, 3])
    wait_for(lambda: daemon.pipelines()["slow"]["state"] == "running", 20, "batch running")
    t0 = time.monotonic()
    daemon.terminate(signal.SIGTERM)
    assert daemon.wait(grace + 10) == 0
    elapsed = time.monotonic() - t0
    if clean:
        assert proj.ids("slow") == [1, 2, 3], "the in-flight batch finished and committed"
    else:
        assert elapsed < 2.5, f"exit took {elapsed:.1f}s, past the 0.5 s grace"
    # restart: an abandoned batch is replayed; nothing is lost or duplicated
    proj2 = procs(proj.root)
    proj.drop("slow", "b.csv", [4])
    wait_for(lambda: proj.ids("slow") == [1, 2, 3, 4], 30, "all rows exactly once")
    proj2.terminate(signal.SIGTERM)
    assert proj2.wait(30) == 0
    assert proj.ids("slow") == [1, 2, 3, 4]


def test_two_daemons_process_each_record_once(tmp_path: Path, procs) -> None:
    proj = ProjectBuilder(tmp_path / "proj", ttl=1.5)
    proj.pipeline("p")
    first = procs(proj.root)
    second = procs(proj.root)
    wait_for(lambda: first.get("/readyz")[0] == 200, 20, "first ready")
    assert second.pipelines()["p"]["state"] == "waiting_lease"
    assert second.get("/readyz")[0] == 503
    for i in range(10):
        proj.drop("p", f"a{i}.csv", [i])
    wait_for(lambda: len(proj.ids("p")) == 10, 30, "first processes")
    first.terminate(signal.SIGKILL)  # no release: the second waits for expiry
    first.wait(10)
    wait_for(lambda: second.get("/readyz")[0] == 200, 20, "second takes over")
    lease = orjson.loads((proj.root / "checkpoints" / "p" / "lease.json").read_bytes())
    assert lease["epoch"] == 2
    for i in range(10, 20):
        proj.drop("p", f"b{i}.csv", [i])
    wait_for(lambda: len(proj.ids("p")) >= 20, 30, "second processes")
    assert proj.ids("p") == list(range(20))


def test_broken_reload_keeps_running_then_good_reload_applies(tmp_path: Path, procs) -> None:
    proj = ProjectBuilder(tmp_path / "proj")
    proj.pipeline("a")
    b_file = proj.pipeline("b")
    daemon = procs(proj.root)
    wait_for(lambda: daemon.get("/readyz")[0] == 200, 20, "ready")
    b_file.write_text(b_file.read_text().replace("max_attempts", "max_attempst"))
    wait_for(lambda: daemon.pipelines()["b"]["reload_error"] is not None, 20, "reload error reported")
    described = daemon.pipelines()
    assert "max_attempst" in described["b"]["reload_error"] and "b.yaml:" in described["b"]["reload_error"]
    assert described["a"]["reload_error"] is None  # only the pipeline whose file is broken
    assert "max_attempst" in daemon.get("/readyz")[1]["detail"]["reload_error"]
    assert {d["state"] for d in described.values()} <= {"idle", "running"}
    proj.drop("a", "x.csv", [1])
    wait_for(lambda: proj.ids("a") == [1], 20, "old config keeps running")
    # fix b and add c: the good reload clears the error and starts c
    b_file.write_text(b_file.read_text().replace("max_attempst", "max_attempts"))
    proj.pipeline("c")
    wait_for(lambda: "c" in daemon.pipelines() and daemon.pipelines()["c"]["reload_error"] is None, 20, "c added")
    proj.drop("c", "y.csv", [5])
    wait_for(lambda: proj.ids("c") == [5], 20, "c runs")
    # SIGHUP reloads too (no change: nothing restarts)
    os.kill(daemon.proc.pid, signal.SIGHUP)
    proj.drop("a", "z.csv", [2])
    wait_for(lambda: proj.ids("a") == [1, 2], 20, "a still runs after SIGHUP")
    daemon.terminate()
    assert daemon.wait(30) == 0


def test_api_trigger_pause_resume(tmp_path: Path, procs) -> None:
    proj = ProjectBuilder(tmp_path / "proj")
    proj.pipeline("m", trigger="{manual: {}}")
    daemon = procs(proj.root)
    proj.drop("m", "a.csv", [1])
    assert daemon.post("/api/pipelines/m/pause")[0] in (200, 202)
    assert daemon.post("/api/pipelines/m/trigger")[0] in (200, 202)
    wait_for(lambda: daemon.pipelines()["m"]["state"] == "paused", 10, "paused")
    assert proj.ids("m") == []
    daemon.post("/api/pipelines/m/resume")
    wait_for(lambda: proj.ids("m") == [1], 20, "resume runs waiting data")
    proj.drop("m", "b.csv", [2])
    daemon.post("/api/pipelines/m/trigger")
    wait_for(lambda: proj.ids("m") == [1, 2], 20, "trigger runs")
    # the sink holds the rows just before commits/N is written: wait for the commit itself
    wait_for(lambda: daemon.pipelines()["m"]["batches"] >= 2, 10, "second commit reported")
    assert daemon.pipelines()["m"]["last_batch"]["pipeline"] == "m"
    assert daemon.post("/api/pipelines/nope/trigger")[0] == 404


def test_idle_daemon_with_50_pipelines_uses_under_1_percent_cpu(tmp_path: Path, procs) -> None:
    proj = ProjectBuilder(tmp_path / "proj")
    for i in range(25):
        proj.pipeline(f"m{i}", trigger="{manual: {}}")
        proj.pipeline(f"f{i}", trigger="{file_watch: {debounce_ms: 5, reconcile_seconds: 30}}")
    daemon = procs(proj.root)
    wait_for(lambda: daemon.get("/readyz")[0] == 200, 60, "ready")
    wait_for(lambda: all(d["state"] == "idle" for d in daemon.pipelines().values()), 60, "idle")
    hz = os.sysconf("SC_CLK_TCK")
    t0, c0 = time.monotonic(), cpu_ticks(daemon.proc.pid)
    time.sleep(8)  # measuring idle CPU needs wall-clock time to pass (10 ms tick resolution)
    used = (cpu_ticks(daemon.proc.pid) - c0) / hz
    share = used / (time.monotonic() - t0)
    assert share < 0.01, f"idle daemon used {share:.2%} CPU"
