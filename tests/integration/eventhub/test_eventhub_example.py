"""``examples/eventhub`` runs as documented against the wire-level test server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
from deltalake import DeltaTable

from tests.conftest import CLI, REPO, cli_env
from tests.eventhub_server.fixtures import EventHubTarget, local_server


def test_the_example_validates_and_runs(
    tmp_path: Path, eventhub_server: EventHubTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = local_server(eventhub_server, "hubs named like the example's")
    server.create_hub("telemetry", 4)
    server.create_hub("alerts", 2)
    readings = [
        {"device": f"d{i % 7}", "temperature": 60 + i % 40, "ts": "2024-05-01T12:00:00Z"}
        for i in range(200)
    ]
    for p in range(4):
        server.publish("telemetry", [orjson.dumps(r) for r in readings[p::4]], partition=str(p))
    server.publish("telemetry", [b"not json at all"], partition="3")
    project = tmp_path / "eventhub"
    shutil.copytree(REPO / "examples" / "eventhub", project)
    monkeypatch.setenv("EH_CONNECTION", server.connection_string())
    for args in (["validate", str(project)], ["run", str(project), "--pipeline", "telemetry"]):
        done = subprocess.run(
            [*CLI, *args], env=cli_env(), capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stdout + done.stderr
    table = DeltaTable(str(project / "data" / "telemetry")).to_pyarrow_table()
    assert table.num_rows == 200 and {"partition", "sequence_number", "enqueued_time"} <= set(
        table.column_names
    )
    dead = DeltaTable(str(project / "data" / "dead_letter")).to_pyarrow_table().to_pylist()
    assert [d["_odibi_source"] for d in dead] == ["telemetry/3/50"]
    alerts = [e for p in ("0", "1") for e in server.events("alerts", p)]
    hot = [r for r in readings if r["temperature"] > 80]
    assert len(alerts) == len(hot)
    assert {e.partition_key for e in alerts} == {r["device"] for r in hot}
    assert all(orjson.loads(e.body)["device"] == e.partition_key for e in alerts)
