"""ScheduleManager builds a KafkaTrigger from a kafka pipeline's read nodes (no broker needed:
building a trigger or a source opens no connection)."""

from __future__ import annotations

import re
from pathlib import Path

from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.config.loader import load_project
from odibi_stream.runtime.plan import build_plan
from odibi_stream.runtime.schedule_manager import (
    KAFKA_INTERVAL_SECONDS,
    ScheduleManager,
    TriggerGroup,
    kafka_trigger,
)
from odibi_stream.runtime.stream_manager import StreamManager
from odibi_stream.triggers.kafka import KafkaTrigger
from odibi_stream.triggers.poll import PollingTrigger
from tests.conftest import write_project

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
      format: kafka
      {sel}
      incremental: {{mode: offsets}}
    write: {{connection: local, format: delta, path: lake/r{i}}}"""
        for i, (conn, sel) in enumerate(r.split("|") for r in reads)
    )
    return f"pipeline: p\ntrigger: {trigger}\nnodes:{nodes}\n"


def _manager(tmp_path: Path) -> ScheduleManager:
    # Not started: building a trigger needs neither the scheduler thread nor the observer.
    return ScheduleManager(LocalCheckpointStore(tmp_path / "ck"), StreamManager(1))


def _plan(tmp_path: Path, trigger: str, reads: list[str]) -> tuple[object, object]:
    root = write_project(tmp_path / "proj", {"p": _pipeline(trigger, reads)}, odibi_yaml=ODIBI)
    plan = build_plan(load_project(root), "p")
    return plan.config, plan.sources


def test_kafka_pipeline_gets_a_kafka_trigger_over_its_topics(tmp_path: Path) -> None:
    config, sources = _plan(tmp_path, "{kafka: {interval_seconds: 0.25}}", ["a|topic: orders,refunds"])
    trigger = _manager(tmp_path).build(config, [], sources)  # type: ignore[arg-type]
    assert isinstance(trigger, KafkaTrigger)
    assert trigger.topics == ["orders", "refunds"]
    assert trigger.pattern is None
    assert trigger.interval == 0.25
    assert trigger._conf["bootstrap.servers"] == "127.0.0.1:1"


def test_default_interval_pattern_and_several_connections(tmp_path: Path) -> None:
    config, sources = _plan(
        tmp_path, "{kafka: {}}", ["a|topic: orders", "b|options: {pattern: 'audit-.*'}"]
    )
    trigger = kafka_trigger(config, sources)  # type: ignore[arg-type]
    assert isinstance(trigger, TriggerGroup)
    first, second = trigger.triggers
    assert isinstance(first, KafkaTrigger) and isinstance(second, KafkaTrigger)
    assert first.topics == ["orders"] and first.interval == KAFKA_INTERVAL_SECONDS
    assert second.pattern == re.compile("audit-.*")
    assert second._conf["bootstrap.servers"] == "127.0.0.1:2"
    trigger.stop()  # never started: stopping is still safe


def test_kafka_trigger_without_kafka_reads_falls_back_to_polling(tmp_path: Path) -> None:
    config, _ = _plan(tmp_path, "{kafka: {poll_seconds: 3}}", ["a|topic: orders"])
    assert kafka_trigger(config, {}) is None  # type: ignore[arg-type]
    trigger = _manager(tmp_path).build(config, [], {})  # type: ignore[arg-type]
    assert isinstance(trigger, PollingTrigger) and trigger.interval == 3.0
