"""Event Hubs → SQL → Delta under SIGKILL at every protocol step: every event exactly once.

300,000 events over 4 partitions are in the hub before the first run, and a feeder keeps
appending (plus a few undecodable events) while ``odibi-stream run`` is killed at each
protocol fault point and at random instants. The wire-level test server runs in its own
process (``RemoteEventHubServer``), so it outlives every kill and does not share a GIL with the
feeder. Afterwards the Delta table holds every event id exactly once and the dead letter each
poison event exactly once, named by hub/partition/sequence number.

Wall time (2 cores): about 2 minutes — 13 runs of the CLI, each paying interpreter start-up
and a receiver attach per partition, plus ~350k events decoded and written.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from deltalake import DeltaTable

from odibi_stream.runtime.faults import POINTS
from tests.chaos.harness import kill_at_random, run_cli
from tests.eventhub_fixtures import write_eventhub_project
from tests.eventhub_server.control import RemoteEventHubServer

pytestmark = pytest.mark.chaos

PARTITIONS = 4
PRELOADED = 300_000
HUB = "telemetry"


def body(i: int) -> bytes:
    return orjson.dumps({"id": i, "amount": i % 97, "kind": f"k{i % 5}"})


class Feeder:
    """Appends events (and now and then a poison one) while the pipeline is being killed."""

    def __init__(self, server: RemoteEventHubServer, start: int, rng: random.Random) -> None:
        self.server = server
        self.next_id = start
        self.poison = 0
        self.rng = rng
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            n = self.rng.randint(50, 400)
            for p in range(PARTITIONS):
                ids = range(self.next_id + p, self.next_id + n, PARTITIONS)
                self.server.publish(HUB, [body(i) for i in ids], partition=str(p))
            self.next_id += n
            if self.rng.random() < 0.1:
                self.server.publish(
                    HUB, [b"\xff{not json"], partition=str(self.rng.randrange(PARTITIONS))
                )
                self.poison += 1

    def __enter__(self) -> Feeder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


@pytest.fixture
def server() -> Iterator[RemoteEventHubServer]:
    with RemoteEventHubServer() as remote:
        remote.create_hub(HUB, PARTITIONS)
        yield remote


@pytest.mark.timeout(900)
def test_eventhub_to_delta_exactly_once_under_kill9(
    tmp_path: Path, server: RemoteEventHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(12)
    for p in range(PARTITIONS):
        server.publish(HUB, [body(i) for i in range(p, PRELOADED, PARTITIONS)], partition=str(p))
    server.publish(HUB, [b"\xff{not json"], partition="1")
    monkeypatch.setenv("EH_CONN", server.connection_string())
    project = write_eventhub_project(
        tmp_path / "p", HUB, max_records=25_000, sql="SELECT id, amount, kind, partition FROM raw"
    )
    kills = 0
    with Feeder(server, PRELOADED, rng) as feeder:
        for point in POINTS:
            if run_cli(project, "eh2delta", fault=f"{point}:{rng.randint(1, 3)}", timeout=300) != 0:
                kills += 1
        for _ in range(3):
            if kill_at_random(project, "eh2delta", rng, max_delay=6.0) != 0:
                kills += 1
    poison = feeder.poison + 1
    assert run_cli(project, "eh2delta", timeout=300) == 0  # catch up with everything fed

    got = Counter(
        DeltaTable(str(project / "data" / "out"))
        .to_pyarrow_table(columns=["id"])
        .column("id")
        .to_pylist()
    )
    assert {k: v for k, v in got.items() if v > 1} == {}, f"duplicates after {kills} kills"
    missing = set(range(feeder.next_id)) - set(got)
    assert not missing, (
        f"{len(missing)} events lost after {kills} kills, e.g. {sorted(missing)[:5]}"
    )
    assert len(got) == feeder.next_id >= PRELOADED
    dead = DeltaTable(str(project / "data" / "dead_letter")).to_pyarrow_table().to_pylist()
    assert len(dead) == poison, "each poison event dead-lettered exactly once"
    assert all(d["_odibi_source"].startswith(f"{HUB}/") for d in dead)
    assert len({d["_odibi_source"] for d in dead}) == poison
    assert kills >= len(POINTS) // 2
