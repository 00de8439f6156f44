"""2,500 trigger POSTs against a real daemon yield a bounded number of batches (issue 17, #5)."""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
from pathlib import Path

import orjson
import pytest

from tests.integration.server.daemon_launch import ServeProc
from tests.unit.service.runtime_projects import ProjectBuilder, wait_for

pytestmark = pytest.mark.slow

POSTS = 2500
THREADS = 5
BURST, RATE = 3, 1.0  # server.limits defaults


def pipeline(port: int, name: str) -> dict[str, object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", f"/api/pipelines/{name}")
        return dict(orjson.loads(conn.getresponse().read()))
    finally:
        conn.close()


def flood(port: int, count: int, answers: list[dict[str, object]], sent: list[float]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # one kept-alive connection
    try:
        for _ in range(count):
            sent.append(time.time())
            conn.request("POST", "/api/pipelines/m/trigger", headers={"X-Odibi-Request": "1"})
            resp = conn.getresponse()
            assert resp.status == 202
            answers.append(orjson.loads(resp.read()))
    finally:
        conn.close()


def test_a_trigger_flood_yields_a_bounded_number_of_batches(tmp_path: Path) -> None:
    proj = ProjectBuilder(tmp_path / "proj")
    proj.pipeline("m", trigger="{manual: {}}")
    daemon = ServeProc(proj.root, tmp_path / "daemon.log")
    try:
        wait_for(lambda: pipeline(daemon.port, "m")["state"] == "idle", 30, "pipeline loaded")
        before = int(pipeline(daemon.port, "m")["batches"])  # type: ignore[call-overload]
        answers: list[dict[str, object]] = []
        sent: list[float] = []
        t0 = time.monotonic()
        workers = [threading.Thread(target=flood, args=(daemon.port, POSTS // THREADS, answers, sent)) for _ in range(THREADS)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(300)
        seconds = time.monotonic() - t0
        bound = BURST + math.ceil(seconds * RATE) + 2
        during = int(pipeline(daemon.port, "m")["batches"]) - before  # type: ignore[call-overload]
        assert during <= bound, f"{during} batches from {POSTS} triggers in {seconds:.1f}s"
        # every accepted trigger is owed a run that starts after it: the last commit is newer
        # than the last POST (coalesced requests get theirs once the next token is due)
        commit_dir = proj.root / "checkpoints" / "m" / "commits"
        wait_for(lambda: max(f.stat().st_mtime for f in commit_dir.glob("*.json")) > max(sent), 10, "the owed run")
        wait_for(lambda: pipeline(daemon.port, "m")["state"] == "idle", 10, "pipeline idle")
        batches = int(pipeline(daemon.port, "m")["batches"]) - before  # type: ignore[call-overload]
        commits = proj.commits("m")
    finally:
        code = daemon.stop()
    coalesced = sum(1 for a in answers if a["coalesced"])
    numbers = {"posts": len(answers), "seconds": round(seconds, 2), "batches": batches, "commits": commits,
               "coalesced": coalesced}
    print("\ntrigger flood:", json.dumps(numbers))
    assert code == 0
    assert len(answers) == POSTS and all(a["status"] == "accepted" for a in answers)
    assert batches <= bound, numbers
    assert coalesced >= POSTS - 2 * bound, numbers
    assert "Traceback" not in daemon.stderr()
