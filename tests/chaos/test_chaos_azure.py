"""Chaos on Azure storage: files landing on Azurite → SQL + check → Delta on Azurite, dead
letters as jsonl parts on Azurite, checkpoints on Azurite, files archived by copy+delete.

SIGKILL at every protocol fault point and at random instants while files keep arriving (a
thread keeps uploading during the random kills); the final run completes and every record is in
the table exactly once, every bad line in the dead letters exactly once, and every landed file
archived. One Spark-engine case (ABFS) at the points around the sink.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from pathlib import Path

import pytest

from odibi_stream.runtime.faults import POINTS
from tests.azurite_fixtures import AzuriteAccount, azurite
from tests.chaos.harness import kill_at_random, run_cli
from tests.integration.azure.azure_projects import AzureProject, azure_project
from tests.spark_fixtures import require_spark

__all__ = ["azurite"]
pytestmark = pytest.mark.chaos

ROWS = 30


def _check(az: AzureProject, expected: list[int], bad: list[str], files: int, kills: int) -> None:
    got = az.ids()
    dupes = {k: v for k, v in got.items() if v > 1}
    assert not dupes, f"duplicated ids after {kills} kills: {sorted(dupes)[:10]}"
    missing = sorted(set(expected) - set(got))
    assert not missing, f"missing ids after {kills} kills: {missing[:10]}"
    assert set(got) == set(expected)
    with az.fs(az.lake) as lake:
        records = [
            json.loads(line)["_odibi_record"]
            for f in lake.list("dlq")
            for line in lake.read_bytes(f.name).splitlines()
        ]
    assert Counter(records) == Counter(bad), "each bad line exactly once in the dead letters"
    with az.fs(az.landing) as landing:
        assert landing.list("in") == [], "every committed file is archived"
        assert len(landing.list("archive/in")) == files


class Lander:
    """Uploads a file every ``period`` seconds on a thread until stopped (files keep arriving)."""

    def __init__(self, az: AzureProject, start: int, period: float = 0.3) -> None:
        self.az, self.next, self.period = az, start, period
        self.ids: list[int] = []
        self.files = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.ids += self.az.land_many(n_files=1, rows=ROWS, start=self.next)
            self.next += ROWS
            self.files += 1

    def __enter__(self) -> Lander:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("seed", [7, 11])
def test_azure_exactly_once_under_kill9(tmp_path: Path, azurite: AzuriteAccount, seed: int) -> None:
    rng = random.Random(seed)
    az = azure_project(tmp_path / "p", azurite, max_files=3, after_read="archive", retain=3, ttl=1)
    try:
        expected = az.land_many(n_files=8, rows=ROWS)
        bad = ['{"id": "oops"}', "{torn"]
        az.land("in-bad.jsonl", [99_999], bad=bad)
        expected.append(99_999)
        files = 9
        kills = 0
        steps = list(POINTS)
        rng.shuffle(steps)
        for i, point in enumerate(steps):
            if run_cli(az.root, "events", fault=f"{point}:{rng.randint(1, 2)}", timeout=180) != 0:
                kills += 1
            expected += az.land_many(n_files=2, rows=ROWS, start=100_000 * (i + 1))
            files += 2
        with Lander(az, start=10_000_000) as lander:
            for _ in range(4):
                if kill_at_random(az.root, "events", rng, max_delay=4.0) != 0:
                    kills += 1
        expected += lander.ids
        files += lander.files
        assert run_cli(az.root, "events", timeout=300) == 0
        _check(az, expected, bad, files, kills)
        assert kills >= len(steps) // 2, "the harness should actually have killed the runtime"
        assert lander.files >= 3, "files should have kept arriving during the random kills"
    finally:
        az.drop()


@pytest.mark.timeout(900)
def test_azure_spark_engine_exactly_once_under_kill9(tmp_path: Path, azurite: AzuriteAccount) -> None:
    require_spark()
    az = azure_project(tmp_path / "p", azurite, engine="spark", max_files=2, after_read="archive", ttl=1)
    try:
        expected = az.land_many(n_files=4, rows=ROWS)
        files, kills = 4, 0
        for i, point in enumerate(("after_write_ahead", "after_sink", "before_commit")):
            if run_cli(az.root, "events", fault=f"{point}:1", timeout=300) != 0:
                kills += 1
            expected += az.land_many(n_files=1, rows=ROWS, start=100_000 * (i + 1))
            files += 1
        assert run_cli(az.root, "events", timeout=300) == 0
        _check(az, expected, [], files, kills)
        assert kills == 3, "every fault point should have killed the runtime"
    finally:
        az.drop()
