"""A cloud folder's files source wakes its pipeline through a listing poll.

Compiling and building open no connection (the probe opens when the trigger starts), so no
storage is needed here.
"""

from __future__ import annotations

from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from watchdog.observers import Observer

from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.config.loader import load_project
from odibi_stream.core.wake import FolderWatch, PollWatch
from odibi_stream.runtime.compile import compile_pipeline
from odibi_stream.triggers.base import Trigger, TriggerGroup
from odibi_stream.triggers.build import build_trigger
from odibi_stream.triggers.data import PollingTrigger
from odibi_stream.triggers.file_watch import FileWatchTrigger
from tests.conftest import write_project

ODIBI = """\
project: c
checkpoint: {root: ./checkpoints}
connections:
  local: {type: local, base_path: ./data}
  lake:
    type: azure_blob
    container: landing
    endpoint: "http://127.0.0.1:1/devstoreaccount1"
    auth: {account_key: k}
"""

READ = """
  - name: {name}
    read:
      connection: {conn}
      format: csv
      path: in/*.csv
      incremental: {{mode: files}}
    write: {{connection: local, format: delta, path: lake/{name}}}"""


def _build(tmp_path: Path, trigger: str, conns: list[str]) -> tuple[Trigger, list[object]]:
    nodes = "".join(READ.format(name=f"r{i}", conn=c) for i, c in enumerate(conns))
    root = write_project(tmp_path / "proj", {"p": f"pipeline: p\ntrigger: {trigger}\nnodes:{nodes}\n"},
                         odibi_yaml=ODIBI)
    compiled = compile_pipeline(load_project(root), "p")
    watches = compiled.watches()
    trigger_obj = build_trigger(
        compiled.config, watches, store=LocalCheckpointStore(tmp_path / "ck"),
        scheduler=BackgroundScheduler(), observer=Observer(),
    )
    return trigger_obj, list(watches)


def test_file_watch_on_a_cloud_folder_polls_its_listing_every_reconcile_seconds(tmp_path: Path) -> None:
    trigger, watches = _build(tmp_path, "{file_watch: {reconcile_seconds: 2.5}}", ["lake"])
    [watch] = watches
    assert isinstance(watch, PollWatch) and watch.folder
    assert watch.name == "files:az://devstoreaccount1/landing/in/*.csv (endpoint http://127.0.0.1:1/devstoreaccount1)"
    assert isinstance(trigger, PollingTrigger) and trigger.interval == 2.5
    trigger.stop()  # never started: stopping is safe


def test_local_and_cloud_folders_together(tmp_path: Path) -> None:
    trigger, watches = _build(tmp_path, "{file_watch: {reconcile_seconds: 4}}", ["local", "lake"])
    assert [type(w) for w in watches] == [FolderWatch, PollWatch]
    assert isinstance(trigger, TriggerGroup)
    folder, polled = trigger.triggers
    assert isinstance(folder, FileWatchTrigger) and folder.paths == [tmp_path / "proj" / "data" / "in"]
    assert isinstance(polled, PollingTrigger) and polled.interval == 4
