"""Triggers are built from the trigger config and what the sources say wakes them.

No broker is needed: compiling a kafka pipeline and building its trigger opens no connection
(the probe opens when the trigger starts).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from watchdog.observers import Observer

from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.config.loader import load_project
from odibi_stream.connectors.kafka import KAFKA_POLL_SECONDS
from odibi_stream.core.clock import ManualClock
from odibi_stream.core.wake import PollWatch, WakeReason
from odibi_stream.exceptions import ConfigError
from odibi_stream.runtime.compile import CompiledPipeline, compile_pipeline
from odibi_stream.triggers.base import Trigger, TriggerGroup
from odibi_stream.triggers.build import build_trigger
from odibi_stream.triggers.data import PollingTrigger
from odibi_stream.triggers.file_watch import FileWatchTrigger
from odibi_stream.triggers.manual import ManualTrigger
from tests.conftest import write_project
from tests.unit.service.runtime_projects import wait_for

ODIBI = """\
project: k
checkpoint: {root: ./checkpoints}
connections:
  local: {type: local, base_path: ./data}
  a: {type: kafka, options: {bootstrap.servers: "127.0.0.1:1"}}
  b: {type: kafka, options: {bootstrap.servers: "127.0.0.1:2", client.id: other}}
"""


def _pipeline(trigger: str, reads: list[str]) -> str:
    nodes = "".join(
        f"""
  - name: r{i}
    read:
      connection: {conn}
      format: {fmt}
      {sel}
      incremental: {{mode: {mode}}}
    write: {{connection: local, format: delta, path: lake/r{i}}}"""
        for i, (conn, fmt, mode, sel) in enumerate(r.split("|") for r in reads)
    )
    return f"pipeline: p\ntrigger: {trigger}\nnodes:{nodes}\n"


def _compile(tmp_path: Path, trigger: str, reads: list[str]) -> CompiledPipeline:
    root = write_project(tmp_path / "proj", {"p": _pipeline(trigger, reads)}, odibi_yaml=ODIBI)
    return compile_pipeline(load_project(root), "p")


def _build(tmp_path: Path, compiled: CompiledPipeline) -> Trigger:
    # Not started: building a trigger needs neither the scheduler thread nor the observer.
    return build_trigger(
        compiled.config, compiled.watches(), store=LocalCheckpointStore(tmp_path / "ck"),
        scheduler=BackgroundScheduler(), observer=Observer(),
    )


def test_kafka_pipeline_polls_its_topics_at_the_configured_interval(tmp_path: Path) -> None:
    compiled = _compile(tmp_path, "{kafka: {interval_seconds: 0.25}}", ["a|kafka|offsets|topic: orders,refunds"])
    trigger = _build(tmp_path, compiled)
    assert isinstance(trigger, PollingTrigger)
    assert trigger.watch.name == "kafka:orders,refunds"
    assert trigger.interval == 0.25


def test_default_interval_pattern_and_several_connections(tmp_path: Path) -> None:
    compiled = _compile(
        tmp_path, "{kafka: {}}", ["a|kafka|offsets|topic: orders", "b|kafka|offsets|options: {pattern: 'audit-.*'}"]
    )
    trigger = _build(tmp_path, compiled)
    assert isinstance(trigger, TriggerGroup)
    first, second = trigger.triggers
    assert isinstance(first, PollingTrigger) and isinstance(second, PollingTrigger)
    assert first.watch.name == "kafka:orders" and first.interval == KAFKA_POLL_SECONDS
    assert second.watch.name == "kafka:audit-.*"
    trigger.stop()  # never started: stopping is still safe


def test_a_data_trigger_without_anything_to_watch_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="trigger kafka needs a kafka read node"):
        _compile(tmp_path / "a", "{kafka: {poll_seconds: 3}}", ["local|csv|files|path: in/*.csv"])
    with pytest.raises(ConfigError, match="trigger file_watch needs an incremental files read"):
        _compile(tmp_path / "b", "{file_watch: {}}", ["a|kafka|offsets|topic: orders"])


def test_file_watch_and_manual(tmp_path: Path) -> None:
    files = _compile(tmp_path, "{file_watch: {debounce_ms: 7}}", ["local|csv|files|path: in/*.csv"])
    trigger = _build(tmp_path, files)
    assert isinstance(trigger, FileWatchTrigger)
    assert trigger.paths == [tmp_path / "proj" / "data" / "in"]
    manual = _compile(tmp_path / "m", "{manual: {}}", ["local|csv|files|path: in/*.csv"])
    assert isinstance(_build(tmp_path, manual), ManualTrigger)


class _Probe:
    def __init__(self) -> None:
        self.ends: tuple[tuple[str, int], ...] = (("t:0", 1),)
        self.closed = False

    def positions(self) -> tuple[tuple[str, int], ...]:
        return self.ends

    def close(self) -> None:
        self.closed = True


def test_polling_trigger_wakes_on_change_and_closes_its_probe() -> None:
    probe = _Probe()
    clock = ManualClock()
    wakes: list[WakeReason] = []
    trigger = PollingTrigger(PollWatch(lambda: probe, "unit"), 5.0, clock)
    trigger.start(wakes.append)
    wait_for(lambda: trigger.polls == 1 and clock.waiters == 1, 5, "first poll")
    assert wakes == [WakeReason.DATA]  # the first poll always wakes (catch up after a restart)
    clock.advance(5)
    wait_for(lambda: trigger.polls == 2 and clock.waiters == 1, 5, "second poll")
    assert wakes == [WakeReason.DATA], "unchanged positions do not wake"
    probe.ends = (("t:0", 2),)
    clock.advance(5)
    wait_for(lambda: len(wakes) == 2, 5, "a moved end wakes")
    trigger.stop()
    assert probe.closed
