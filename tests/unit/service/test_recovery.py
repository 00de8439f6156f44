"""Recovering a failed pipeline: live through the daemon, offline through the checkpoint (#5).

A real daemon (``Runtime.background``: workers, leases, HTTP server on a free port) on a real
project folder; the only thing a test does by hand is land files.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from odibi_stream.api import Runtime
from odibi_stream.checkpoints.lease import Lease
from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.exceptions import ConfigError, ConfigErrors, LeaseLost, OdibiError
from odibi_stream.service import recovery
from odibi_stream.service.control import ActionRefused
from odibi_stream.service.project import load
from tests.unit.service.runtime_projects import ProjectBuilder, wait_for


def post(url: str) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, method="POST", data=b"", headers={"X-Odibi-Request": "1"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def proj(tmp_path: Path) -> ProjectBuilder:
    b = ProjectBuilder(tmp_path / "proj")
    b.pipeline("a")
    return b


def bad_file(proj: ProjectBuilder, name: str) -> Path:
    path = proj.root / "data" / "landing" / "a" / name
    path.write_text("")  # zero bytes: not a CSV
    return path


LOOKUP = """\
pipeline: enrich
trigger: {file_watch: {debounce_ms: 5}}
nodes:
  - name: src
    read: {connection: local, format: csv, path: landing/enrich/*.csv, incremental: {mode: files, settle_seconds: 0}}
  - name: dim
    read: {connection: local, format: delta, path: tables/dim}
  - name: out
    depends_on: [src, dim]
    transform: {sql: "SELECT src.id, dim.name FROM src JOIN dim ON src.id = dim.id"}
    write: {connection: local, format: delta, path: tables/enrich}
"""


def test_failed_pipeline_says_where_then_retry_after_the_fix(proj: ProjectBuilder) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    (proj.root / "pipelines" / "enrich.yaml").write_text(LOOKUP)
    (proj.root / "data" / "landing" / "enrich").mkdir(parents=True)
    rt = Runtime.from_project(proj.root, port=0)
    with rt.background():
        assert rt.daemon is not None and rt.url is not None
        url = rt.url.rstrip("/")
        control = rt.daemon.control
        proj.drop("enrich", "a.csv", [1, 2])
        wait_for(lambda: control.pipeline("enrich")["state"] == "failed", 20, "failed")
        error = control.pipeline("enrich")["error"]
        assert (error["step"], error["node"], error["batch"]) == ("execute", "dim", 0)
        assert error["where"] == f"{proj.root / 'pipelines' / 'enrich.yaml'}:6"
        assert error["input"] == str(proj.root / "data" / "tables" / "dim")
        assert error["message"].startswith("no Delta table at") and error["hint"]
        # a trigger is ignored while failed, and the API says so
        status, body = post(f"{url}/api/pipelines/enrich/trigger")
        assert status == 202 and body["state"] == "failed"
        with pytest.raises(KeyError):
            control.skip("nope")
        # the fix: the lookup table exists now; retry runs the failed batch again
        write_deltalake(str(proj.root / "data" / "tables" / "dim"), pa.table({"id": [1, 2], "name": ["x", "y"]}))
        status, body = post(f"{url}/api/pipelines/enrich/retry")
        assert status == 200
        wait_for(lambda: proj.commits("enrich") == 1, 20, "the retried batch")
        assert control.pipeline("enrich")["error"] is None
        status, body = post(f"{url}/api/pipelines/enrich/retry")
        assert status == 409 and "not failed" in body["error"]


def test_bad_file_error_names_the_file(proj: ProjectBuilder) -> None:
    rt = Runtime.from_project(proj.root, port=0)
    with rt.background():
        assert rt.daemon is not None
        control = rt.daemon.control
        bad_file(proj, "broken.csv")
        wait_for(lambda: control.pipeline("a")["state"] == "failed", 20, "failed")
        error = control.pipeline("a")["error"]
        assert (error["step"], error["node"], error["input"]) == ("execute", "src", "landing/a/broken.csv")
        assert error["where"] == f"{proj.root / 'pipelines' / 'a.yaml'}:5"
        assert "on_error: dead_letter" in error["hint"]


def test_skip_drops_the_failed_batch_and_the_pipeline_goes_on(proj: ProjectBuilder) -> None:
    rt = Runtime.from_project(proj.root, port=0)
    with rt.background():
        assert rt.daemon is not None and rt.url is not None
        control = rt.daemon.control
        status, body = post(f"{rt.url.rstrip('/')}/api/pipelines/a/skip")
        assert status == 409 and "pause it first" in body["hint"]  # idle: nothing to skip
        with pytest.raises(ActionRefused, match="is idle"):
            control.skip("a")
        bad_file(proj, "broken.csv")
        wait_for(lambda: control.pipeline("a")["state"] == "failed", 20, "failed")
        status, body = post(f"{rt.url.rstrip('/')}/api/pipelines/a/skip")
        assert status == 200 and body["skipped_batch"] == 0
        proj.drop("a", "good.csv", [1, 2])
        wait_for(lambda: proj.ids("a") == [1, 2], 20, "the batch after the skipped one")
        history = LocalCheckpointStore(proj.root / "checkpoints").read("a/commits/0.json")
        assert history is not None and b'"skipped"' in history


def test_pause_is_durable_and_resume_clears_it(proj: ProjectBuilder) -> None:
    rt = Runtime.from_project(proj.root, port=0)
    with rt.background():
        assert rt.daemon is not None
        rt.daemon.control.pause("a")
        assert rt.daemon.control.pipeline("a")["state"] == "paused"
    store = LocalCheckpointStore(proj.root / "checkpoints")
    assert recovery.is_paused(store, "a")
    proj.drop("a", "x.csv", [1])
    again = Runtime.from_project(proj.root, port=0)  # a restarted daemon starts it paused
    with again.background():
        assert again.daemon is not None
        control = again.daemon.control
        wait_for(lambda: control.pipeline("a")["state"] == "paused", 20, "paused after restart")
        assert proj.ids("a") == []
        control.resume("a")
        wait_for(lambda: proj.ids("a") == [1], 20, "resumed")
    assert not recovery.is_paused(store, "a")


def test_offline_actions_take_the_lease_and_refuse_while_it_is_held(proj: ProjectBuilder) -> None:
    project = load(proj.root)
    bad_file(proj, "broken.csv")
    with pytest.raises(OdibiError):
        recovery.retry(project, "a")  # fails again: the batch stays pending
    store = LocalCheckpointStore(proj.root / "checkpoints")
    other = Lease(store, "a", "other-host:1:abc", 60)
    assert other.try_acquire()
    for action in (recovery.pause, recovery.resume, recovery.skip):
        with pytest.raises(LeaseLost, match="owned by other-host:1:abc until"):
            action(project, "a")
    with pytest.raises(LeaseLost):
        recovery.retry(project, "a")
    other.release()
    assert "paused" in recovery.pause(project, "a").message
    with pytest.raises(OdibiError, match="paused"):
        recovery.retry(project, "a")
    recovery.resume(project, "a")
    assert recovery.skip(project, "a").message.startswith("skipped batch 0")
    proj.drop("a", "good.csv", [3])
    outcome, reports = recovery.retry(project, "a")
    assert outcome.message == "retried 'a': the next batch committed"
    assert [r.batch for r in reports] == [1] and proj.ids("a") == [3]


def test_reload_errors_go_to_the_pipeline_whose_file_is_broken(proj: ProjectBuilder) -> None:
    proj.pipeline("b")
    rt = Runtime.from_project(proj.root, port=0)
    with rt.background():
        assert rt.daemon is not None
        control = rt.daemon.control
        b_file = str(proj.root / "pipelines" / "b.yaml")
        control.reload_failed(ConfigErrors([
            ConfigError("bad key", file=b_file, line=3),
            ConfigError("bad pipeline file", file=str(proj.root / "pipelines" / "new.yaml"), line=1),
        ]))
        assert control.pipeline("a")["reload_error"] is None
        assert control.pipeline("b")["reload_error"] == f"{b_file}:3: bad key"
        control.reload_failed(ConfigError("bad server", file=str(proj.root / "odibi.yaml"), line=2))
        assert control.pipeline("a")["reload_error"] and control.pipeline("b")["reload_error"]
        control.reload_succeeded()
        assert control.pipeline("b")["reload_error"] is None
