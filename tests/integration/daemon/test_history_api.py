"""The batch history API and the skip action against a real daemon over HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from odibi_stream.api import Runtime
from tests.conftest import land, write_project

pytestmark = pytest.mark.slow

PIPE = """\
pipeline: p
max_attempts: 1
trigger: {file_watch: {debounce_ms: 5}}
nodes:
  - name: raw
    read: {connection: local, format: csv, path: landing/*.csv, incremental: {mode: files, max_files_per_batch: 1, settle_seconds: 0}}
  - name: checked
    depends_on: [raw]
    transform: {sql: "SELECT id, CASE WHEN id = 13 THEN error('bad row 13') ELSE id END AS v FROM raw"}
  - name: lake
    depends_on: [checked]
    write: {connection: local, format: delta, path: lake/p}
"""


def call(url: str, method: str = "GET") -> tuple[int, Any]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None,
                                 headers={"X-Odibi-Request": "1"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def poll(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)  # polling the HTTP API with a deadline
    return value


def test_skip_a_failed_batch_and_read_the_history(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj", {"p": PIPE})
    (root / "data" / "landing").mkdir(parents=True)
    runtime = Runtime.from_project(root, port=0)
    with runtime.background():
        api = str(runtime.url).rstrip("/") + "/api/pipelines/p"
        assert call(api + "/skip", "POST")[0] == 409  # not failed: nothing to skip
        land(root / "data" / "landing", "a.csv", "id\n1\n")
        poll(lambda: call(api)[1]["last_batch"], "batch 0")
        land(root / "data" / "landing", "b.csv", "id\n13\n")  # the SQL raises for id 13
        poll(lambda: call(api)[1]["state"] == "failed", "failed")
        poll(lambda: call(api + "/batches")[1]["batches"][0]["status"] == "failed", "failed story")
        status, body = call(api + "/skip", "POST")
        assert (status, body["skipped_batch"]) == (200, 1)
        land(root / "data" / "landing", "c.csv", "id\n3\n")
        poll(lambda: (call(api)[1]["last_batch"] or {}).get("batch") == 2, "batch 2 after the skip")
        history = poll(lambda: (b := call(api + "/batches?limit=10")[1]["batches"]) and b[0]["batch"] == 2 and b, "stories")
        status, story = call(api + "/batches/1")
    assert [(b["batch"], b["status"]) for b in history] == [(2, "committed"), (1, "failed"), (0, "committed")]
    assert history[1]["error_node"] == "checked" and history[1]["error_step"] == "execute"
    assert status == 200 and story["status"] == "failed", story
    assert story["inputs"]["raw"]["range"]["files"][0]["path"] == "landing/b.csv", story["inputs"]
    ids = sorted(DeltaTable(str(root / "data" / "lake" / "p")).to_pyarrow_table().column("id").to_pylist())
    assert ids == [1, 3], "the skipped batch's input was committed without being written"
