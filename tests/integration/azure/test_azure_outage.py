"""Azure storage down for 60 s in the middle of a stream: the daemon stays up, retries with
backoff and reports the pipeline degraded, resumes by itself when storage returns, and every
record lands exactly once.

Everything — landing files, Delta table, dead letters, checkpoints and leases — lives on a
private Azurite (``isolated_azurite``) that the test stops and starts; the pipeline is woken by
the cloud folder's listing poll (``file_watch`` → ``PollWatch``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.azurite_fixtures import AzuriteAccount, LocalAzurite
from tests.integration.azure.azure_projects import AzureProject, azure_project
from tests.integration.daemon.daemon_procs import DaemonProc

pytestmark = pytest.mark.timeout(600)
OUTAGE_SECONDS = 60.0


def wait_for(cond: Callable[[], bool], timeout: float, what: str, daemon: DaemonProc) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert daemon.proc.poll() is None, f"daemon died: {daemon.stderr()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{daemon.stderr()[-3000:]}"
        time.sleep(0.2)


def _exactly(az: AzureProject, expected: list[int]) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return az.ids() == {i: 1 for i in expected}
        except Exception:  # storage down or table not there yet
            return False

    return check


def test_sixty_second_outage_mid_stream(
    tmp_path: Path, isolated_azurite: tuple[AzuriteAccount, LocalAzurite]
) -> None:
    account, azurite = isolated_azurite
    az = azure_project(
        tmp_path / "proj", account, max_files=2, trigger="{file_watch: {reconcile_seconds: 1}}"
    )
    daemon = DaemonProc(az.root, tmp_path / "daemon.log")
    try:
        expected = az.land_many(n_files=4, rows=10)
        wait_for(_exactly(az, expected), 90, "the first files to land", daemon)
        # Files keep arriving; storage goes away while they are being processed.
        expected += az.land_many(n_files=4, rows=10, start=1000)
        azurite.stop()
        stopped = time.monotonic()
        daemon.post("/api/pipelines/events/trigger")  # a batch attempt during the outage, for sure

        def degraded() -> bool:
            status = daemon.pipelines()["events"]
            return bool(status["degraded"]) and status["state"] != "failed"

        wait_for(degraded, 45, "the pipeline to report degraded", daemon)
        code, _ = daemon.get("/healthz")
        assert code == 200, "the daemon itself stays healthy while storage is down"
        ready, body = daemon.get("/readyz")
        while time.monotonic() - stopped < OUTAGE_SECONDS:  # the outage's length is the scenario
            assert daemon.proc.poll() is None, daemon.stderr()[-3000:]
            assert daemon.pipelines()["events"]["state"] != "failed", daemon.stderr()[-3000:]
            time.sleep(1.0)
        azurite.start()
        expected += az.land_many(n_files=2, rows=10, start=2000)
        wait_for(_exactly(az, expected), 150, "every record after the outage", daemon)
        wait_for(lambda: not daemon.pipelines()["events"]["degraded"], 60, "recovery", daemon)
        log = daemon.stderr()
        assert "retrying" in log, "failed attempts must be logged as retried"
        assert account.account_key not in log, "the account key never reaches the log"
        daemon.terminate()
        assert daemon.wait(60) == 0, daemon.stderr()[-3000:]
        assert az.ids() == {i: 1 for i in expected}
        assert ready in (200, 503), body
    finally:
        daemon.close()
