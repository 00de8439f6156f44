"""The programmatic Runtime API on a real project folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from odibi_stream.api import Runtime
from odibi_stream.checkpoints.lease import Lease
from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.exceptions import ConfigError, LeaseLost
from tests.unit.service.runtime_projects import ProjectBuilder, wait_for

PIPE = {
    "pipeline": "coded",
    "nodes": [
        {"name": "src", "read": {"connection": "local", "format": "csv", "path": "landing/coded/*.csv",
                                 "incremental": {"mode": "files", "settle_seconds": 0}}},
        {"name": "out", "depends_on": ["src"],
         "write": {"connection": "local", "format": "delta", "path": "tables/coded"}},
    ],
}


@pytest.fixture
def project(tmp_path: Path) -> ProjectBuilder:
    b = ProjectBuilder(tmp_path / "proj")
    b.pipeline("filed")
    (b.root / "data" / "landing" / "coded").mkdir(parents=True)
    return b


def test_register_and_run_once(project: ProjectBuilder) -> None:
    rt = Runtime.from_project(project.root)
    rt.register(PIPE, trigger={"manual": {}})
    project.drop("coded", "a.csv", [1, 2])
    results = rt.run_once("coded")
    assert [r.rows_out for r in results] == [2]
    assert project.ids("coded") == [1, 2]
    assert rt.run_once("coded") == []  # caught up: no empty batch for incremental sources


def test_register_yaml_text_and_reject_bad(project: ProjectBuilder) -> None:
    rt = Runtime.from_project(project.root)
    cfg = rt.register("pipeline: y\nnodes:\n  - name: s\n    read: {connection: local, format: csv, path: x.csv}\n")
    assert cfg.trigger.kind == "manual"
    with pytest.raises(ConfigError):
        rt.register({"pipeline": "bad", "nodes": [{"name": "s", "read": {"connection": "nope", "format": "csv"}}]})
    with pytest.raises(ConfigError):
        rt.register("- not a mapping")


def test_run_once_refuses_a_pipeline_another_process_owns(project: ProjectBuilder) -> None:
    rt = Runtime.from_project(project.root)
    other = Lease(LocalCheckpointStore(project.root / "checkpoints"), "filed", "someone-else", 60)
    assert other.try_acquire()
    with pytest.raises(LeaseLost, match="someone-else"):
        rt.run_once("filed", wait=0)


def test_background_mode_triggers_and_drains(project: ProjectBuilder) -> None:
    rt = Runtime.from_project(project.root, port=0)
    rt.register(PIPE, trigger={"manual": {}})
    with rt.background() as live:
        assert live.daemon is not None and live.url is not None
        project.drop("coded", "a.csv", [5])
        project.drop("filed", "f.csv", [9])
        assert live.trigger("coded") == []
        wait_for(lambda: project.ids("coded") == [5], 20, "triggered")
        wait_for(lambda: project.ids("filed") == [9], 20, "file_watch in background")
        ready, detail = live.daemon.control.readiness()
        assert ready and detail["pipelines"]["coded"]["lease"]
        with pytest.raises(ConfigError):
            rt.register(PIPE)
    assert rt.daemon is None
    # leases were released: a fresh owner gets them at once
    assert Lease(LocalCheckpointStore(project.root / "checkpoints"), "coded", "next", 60).try_acquire()
