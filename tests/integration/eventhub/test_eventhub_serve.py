"""``odibi-stream serve`` / ``run`` on an Event Hubs → SQL → Delta project, on the wire.

* The ``eventhub`` trigger wakes the pipeline when a partition's last enqueued sequence number
  moves, and only then; lag per partition reaches ``/metrics`` and the API.
* Outage: the namespace is down for 30 s — a batch attempted meanwhile is retried with
  readiness ``degraded``, the pipeline never fails, and after the endpoint returns every event
  is in the table exactly once.
* Retention: events trimmed before they were read fail the pipeline under the default policy
  (the exact count in the error), and under ``skip_and_report`` are skipped and reported with
  the exact count in the log, ``/metrics`` and the API.
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from deltalake import DeltaTable

from tests.conftest import CLI, cli_env
from tests.eventhub_fixtures import send_json, write_eventhub_project
from tests.eventhub_server.fixtures import EventHubTarget, local_server
from tests.integration.daemon.daemon_procs import DaemonProc

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
OUTAGE_SECONDS = 30.0


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def out_ids(project: Path) -> Counter[int]:
    path = project / "data" / "out"
    if not (path / "_delta_log").exists():
        return Counter()
    return Counter(DeltaTable(str(path)).to_pyarrow_table(columns=["id"]).column("id").to_pylist())


def metrics_text(daemon: DaemonProc) -> str:
    with urllib.request.urlopen(daemon.url + "/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def readiness(daemon: DaemonProc) -> dict[str, Any]:
    code, body = daemon.get("/readyz")
    assert code in (200, 503), body
    return dict(body["detail"])


def rows(start: int, n: int) -> list[dict[str, Any]]:
    return [{"id": i, "amount": i % 97, "kind": "k"} for i in range(start, start + n)]


def test_trigger_lag_and_a_30s_outage(
    tmp_path: Path, eventhub_server: EventHubTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = local_server(eventhub_server, "an outage on demand")
    hub = server.create_hub("telemetry", 4)
    monkeypatch.setenv("EH_CONN", server.connection_string())
    project = write_eventhub_project(tmp_path / "p", hub, max_records=100)
    daemon = DaemonProc(project, tmp_path / "daemon.log")
    try:
        send_json(server, hub, rows(0, 300), 4)
        wait_until(lambda: out_ids(project) == Counter(range(300)), 60, "the first 300 events")

        # Woken by moved sequence numbers only: an idle pipeline gets no wake-ups (polling at
        # 0.2 s would add several in this window).
        wait_until(lambda: daemon.pipelines()["eh2delta"]["state"] == "idle", 30, "idle")
        before = daemon.pipelines()["eh2delta"]["wakeups"]
        time.sleep(1.5)  # observing the absence of wake-ups over a window, not synchronising
        assert daemon.pipelines()["eh2delta"]["wakeups"] == before

        text = metrics_text(daemon)
        for part in "0123":
            assert (
                f'odibi_source_lag{{pipeline="eh2delta",source="raw",unit="telemetry:{part}"}} 0.0'
                in text
            )
        code, detail = daemon.get("/api/pipelines/eh2delta")
        assert code == 200 and detail["lag"] == {"raw": {f"telemetry:{p}": 0 for p in "0123"}}

        # Outage: the namespace disappears for 30 s; a batch attempted meanwhile is retried.
        assert readiness(daemon)["degraded"] is False
        server.stop()
        down_since = time.monotonic()
        code, _ = daemon.post("/api/pipelines/eh2delta/trigger")
        assert code in (200, 202)
        ready = wait_until(
            lambda: (d := readiness(daemon))["degraded"] and d, 45, "degraded readiness"
        )
        assert ready["pipelines"]["eh2delta"]["degraded"] is True
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_since)))  # the outage itself
        assert daemon.pipelines()["eh2delta"]["state"] != "failed"
        assert daemon.proc.poll() is None

        server.start()  # same port, same data
        send_json(server, hub, rows(300, 120), 4)
        wait_until(
            lambda: out_ids(project) == Counter(range(420)), 90, "all 420 events after the outage"
        )
        wait_until(lambda: not readiness(daemon)["degraded"], 60, "recovery from degraded")
        assert out_ids(project) == Counter(range(420))  # exactly once
        assert "retrying" in daemon.stderr()

        daemon.terminate()
        assert daemon.wait(60) == 0, daemon.stderr()[-3000:]
        assert server.key not in daemon.stderr()
    except BaseException:
        print(daemon.stderr()[-5000:])
        raise
    finally:
        daemon.close()


def test_retention_loss_policy_and_report(
    tmp_path: Path, eventhub_server: EventHubTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = local_server(eventhub_server, "retention on demand")
    hub = server.create_hub("telemetry", 2)
    monkeypatch.setenv("EH_CONN", server.connection_string())
    project = write_eventhub_project(tmp_path / "p", hub, trigger="{eventhub: {}}")
    send_json(server, hub, rows(0, 20), 2)

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, "run", str(project), "--pipeline", "eh2delta"],
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert run().returncode == 0
    send_json(server, hub, rows(100, 20), 2)  # sequence numbers 10..19 of each partition
    assert server.trim(hub, "0", 14) == 14  # 100, 102, 104, 106 (seq 10..13) are gone unread
    failed = run()
    assert failed.returncode != 0
    assert "events 10..13 of partition 0 (4 events) are no longer in the hub" in failed.stderr
    assert out_ids(project) == Counter(range(20))  # nothing committed past the loss

    pipeline = project / "pipelines" / "eh2delta.yaml"
    pipeline.write_text(
        pipeline.read_text().replace(
            "starting: earliest", "starting: earliest, on_data_loss: skip_and_report"
        )
    )
    daemon = DaemonProc(project, tmp_path / "daemon.log")
    try:
        expected = Counter(
            list(range(20)) + [i for i in range(100, 120) if i not in (100, 102, 104, 106)]
        )
        wait_until(lambda: out_ids(project) == expected, 60, "the surviving events")
        code, detail = daemon.get("/api/pipelines/eh2delta")
        assert code == 200 and detail["last_batch"]["data_loss"] == {"raw": 4}, detail["last_batch"]
        text = metrics_text(daemon)
        assert 'odibi_source_events_lost_total{pipeline="eh2delta",source="raw"} 4.0' in text
        assert "(4 events) are no longer in the hub" in daemon.stderr()
        daemon.terminate()
        assert daemon.wait(60) == 0
    except BaseException:
        print(daemon.stderr()[-5000:])
        raise
    finally:
        daemon.close()
    # The commit entry keeps the range with its loss (what `checkpoint history` shows operators).
    commits = [
        orjson.loads(f.read_bytes())
        for f in (project / "checkpoints" / "eh2delta" / "commits").glob("*.json")
    ]
    losses = [c["sources"]["raw"] for c in commits if c["sources"].get("raw", {}).get("lost")]
    assert [(r["lost"], r["data_loss"]) for r in losses] == [(4, {"0": {"from": 10, "to": 14}})]
