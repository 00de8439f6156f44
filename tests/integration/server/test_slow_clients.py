"""1,000 slow clients against a real daemon under ``ulimit -n 256`` (issue 17, finding 7).

A slowloris process keeps 1,000 connections that send a partial request and stall (reconnecting
as the server drops them). Meanwhile ``/healthz`` must keep answering, a landed file must be
committed, the lease must keep being renewed, the daemon's fds must stay bounded and its log must
hold no traceback. Numbers are printed and written to ``slow-clients.json`` in the test folder.
"""

from __future__ import annotations

import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from tests.conftest import REPO, cli_env
from tests.integration.server.daemon_launch import ServeProc
from tests.unit.service.runtime_projects import ProjectBuilder, wait_for

pytestmark = pytest.mark.slow

FD_LIMIT = 256
SLOW_CLIENTS = 1000
HEALTH_PROBES = 200


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class FdSampler(threading.Thread):
    def __init__(self, daemon: ServeProc) -> None:
        super().__init__(daemon=True)
        self.target = daemon
        self.samples: list[int] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.samples.append(self.target.fds())
            self.done.wait(0.1)


def start_attack(port: int) -> subprocess.Popen[str]:
    attack = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.server.slowloris", str(port), str(SLOW_CLIENTS)],
        stdout=subprocess.PIPE, text=True, env=cli_env(), cwd=REPO,
    )
    assert attack.stdout is not None
    assert attack.stdout.readline().strip() == "ready"
    return attack


def test_1000_slow_clients_do_not_stop_health_or_batches(tmp_path: Path) -> None:
    proj = ProjectBuilder(tmp_path / "proj", ttl=3.0)  # lease renewed every second
    proj.pipeline("p")
    daemon = ServeProc(proj.root, tmp_path / "daemon.log", fd_limit=FD_LIMIT)
    attack = None
    try:
        wait_for(lambda: get(daemon.port, "/readyz")[0] == 200, 30, "daemon ready")
        proj.drop("p", "warmup.csv", [0])
        wait_for(lambda: proj.ids("p") == [0], 30, "warm-up batch")
        baseline_fds = daemon.fds()

        attack = start_attack(daemon.port)
        sampler = FdSampler(daemon)
        sampler.start()
        latencies, statuses = [], []
        landed = time.monotonic()
        proj.drop("p", "under-attack.csv", [1, 2, 3])
        committed_after: float | None = None
        for _ in range(HEALTH_PROBES):
            t0 = time.monotonic()
            try:
                statuses.append(get(daemon.port, "/healthz")[0])
            except OSError as exc:
                statuses.append(type(exc).__name__)  # type: ignore[arg-type]
            latencies.append(time.monotonic() - t0)
            if committed_after is None and proj.ids("p") == [0, 1, 2, 3]:
                committed_after = time.monotonic() - landed
            time.sleep(0.05)  # pacing of the probe client, not synchronisation
        if committed_after is None:
            wait_for(lambda: proj.ids("p") == [0, 1, 2, 3], 30, "batch under attack")
            committed_after = time.monotonic() - landed
        ready_status = get(daemon.port, "/readyz")[0]
        state = orjson.loads(get(daemon.port, "/api/pipelines/p")[1])["state"]
        attack_seconds = time.monotonic() - landed
        sampler.done.set()
        sampler.join(5)
        attack.terminate()
        attack_stats = json.loads(attack.communicate(timeout=30)[0].strip().splitlines()[-1])
        _, metrics = get(daemon.port, "/metrics")
    finally:
        if attack is not None and attack.poll() is None:
            attack.kill()
            attack.wait(10)
        code = daemon.stop()

    numbers = {
        "fd_limit": FD_LIMIT, "slow_clients": SLOW_CLIENTS, "attack_seconds": round(attack_seconds, 1),
        "healthz_ok": statuses.count(200), "healthz_total": len(statuses),
        "healthz_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "healthz_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "healthz_max_ms": round(max(latencies) * 1000, 2),
        "batch_commit_s": round(committed_after, 2),
        "daemon_fds_baseline": baseline_fds, "daemon_fds_max": max(sampler.samples),
        "attacker": attack_stats,
    }
    (tmp_path / "slow-clients.json").write_text(json.dumps(numbers, indent=2))
    print("\nslow clients:", json.dumps(numbers))

    log = daemon.stderr()
    assert code == 0, log[-2000:]
    assert statuses == [200] * HEALTH_PROBES, numbers
    assert numbers["healthz_p99_ms"] < 1000, numbers
    assert committed_after < 15, numbers
    assert ready_status == 200 and state == "idle", numbers
    # the cap is a quarter of the fd limit: 64 connections on top of what the daemon holds anyway
    assert max(sampler.samples) <= baseline_fds + FD_LIMIT // 4 + 8, numbers
    assert attack_stats["dropped_by_server"] > 0, "the attacker's stalled connections were evicted"
    assert b'odibi_http_connection_cap{listener="api"} 64.0' in metrics
    for bad in ("Traceback", "BrokenPipe", "Too many open files", "lease lost", "EMFILE"):
        assert bad not in log, (bad, log[-3000:])
