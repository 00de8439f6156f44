"""``odibi-stream serve`` on a kafka → Delta project, against a broker of the test's own.

One daemon subprocess: the kafka trigger wakes the pipeline when end offsets move (and only
then), per-partition lag reaches ``/metrics`` and ``odibi-stream status``, a broker outage
shows as ``degraded`` in ``/readyz`` while the batch is retried, and after the broker returns
every record is in the table exactly once; SIGTERM exits 0.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from deltalake import DeltaTable

from tests.conftest import CLI, cli_env
from tests.integration.daemon.daemon_procs import DaemonProc
from tests.kafka_fixtures import LocalBroker, create_topic, produce_json, write_kafka_project

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalBroker, str]]:
    if os.environ.get("KAFKA_BOOTSTRAP"):
        pytest.skip("an external broker (KAFKA_BOOTSTRAP) cannot be stopped by the tests")
    broker = LocalBroker(Path(tmp_path_factory.mktemp("kafka-serve")))
    bootstrap = broker.start_broker()
    try:
        yield broker, bootstrap
    finally:
        broker.reset()


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


def out_ids(project: Path) -> list[int]:
    path = project / "data" / "lake" / "out"
    if not (path / "_delta_log").exists():
        return []
    return sorted(DeltaTable(str(path)).to_pyarrow_table(columns=["id"]).column("id").to_pylist())


def metrics_text(daemon: DaemonProc) -> str:
    with urllib.request.urlopen(daemon.url + "/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def readiness(daemon: DaemonProc) -> dict[str, Any]:
    code, body = daemon.get("/readyz")
    assert code in (200, 503), body
    return dict(body["detail"])


@pytest.mark.slow
def test_serve_kafka_trigger_lag_and_outage(tmp_path: Path, own_broker: tuple[LocalBroker, str]) -> None:
    broker, bootstrap = own_broker
    create_topic(bootstrap, "events", 2)
    project = write_kafka_project(tmp_path / "p", bootstrap, "events", max_records_per_batch=50)
    daemon = DaemonProc(project, tmp_path / "daemon.log")
    try:
        produce_json(bootstrap, "events", 120)
        wait_until(lambda: out_ids(project) == list(range(120)), 60, "the first 120 records")

        # A kafka trigger wakes on moved end offsets only: an idle pipeline gets no wake-ups
        # (a polling trigger at 0.2 s would add ~7 in this window).
        wait_until(lambda: daemon.pipelines()["k2x"]["state"] == "idle", 30, "idle")
        before = daemon.pipelines()["k2x"]["wakeups"]
        time.sleep(1.5)  # observing absence of wake-ups over a window, not synchronising
        assert daemon.pipelines()["k2x"]["wakeups"] == before

        text = metrics_text(daemon)
        for part in ("events:0", "events:1"):
            assert f'odibi_source_lag{{pipeline="k2x",source="events",unit="{part}"}} 0.0' in text, text
        port = daemon.url.rsplit(":", 1)[1]
        status = subprocess.run(
            [*CLI, "status", str(project), "--port", port, "--json"],
            env=cli_env(), capture_output=True, text=True, timeout=60,
        )
        assert status.returncode == 0, status.stderr
        row = orjson.loads(status.stdout)["pipelines"][0]
        assert row["daemon"]["lag"] == {"events": {"events:0": 0, "events:1": 0}}

        # Outage: a batch attempted while the broker is down is retried and reported degraded.
        assert readiness(daemon)["degraded"] is False
        broker.stop_broker()
        code, _ = daemon.post("/api/pipelines/k2x/trigger")
        assert code in (200, 202)
        detail = wait_until(lambda: (d := readiness(daemon))["degraded"] and d, 45, "degraded readiness")
        assert detail["pipelines"]["k2x"]["degraded"] is True
        assert daemon.pipelines()["k2x"]["state"] != "failed"

        assert broker.start_broker() == bootstrap  # same port, same data
        produce_json(bootstrap, "events", 30, start=120)
        wait_until(lambda: out_ids(project) == list(range(150)), 60, "all 150 records after the outage")
        wait_until(lambda: not readiness(daemon)["degraded"], 30, "recovery from degraded")
        assert out_ids(project) == list(range(150))  # exactly once

        daemon.terminate()
        assert daemon.wait(60) == 0, daemon.stderr()[-3000:]
    except BaseException:
        print(daemon.stderr()[-5000:])
        raise
    finally:
        daemon.close()
