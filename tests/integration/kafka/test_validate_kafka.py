"""``validate`` on Kafka pipelines against the real broker: declared JSON value columns are bound,
and ``--check-connections`` finds a topic that does not exist."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import CLI, cli_env, write_project

ODIBI = """\
project: t
checkpoint: {{root: ./checkpoints}}
connections:
  local: {{type: local, base_path: ./data}}
  bus: {{type: kafka, options: {{bootstrap.servers: "{bootstrap}"}}}}
"""

PIPELINE = """\
pipeline: events
trigger: {{kafka: {{}}}}
nodes:
  - name: events
    read:
      connection: bus
      format: kafka
      topic: {topic}
      options: {{value_format: json, schema: {{device: string, amount: double}}}}
  - name: clean
    depends_on: [events]
    transform: {{sql: "SELECT device, {column}, _partition, _offset FROM events"}}
    write: {{connection: local, format: delta, path: tables/events}}
"""


def validate(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "validate", str(root), *extra], capture_output=True, text=True,
                          env=cli_env(), timeout=120)


def test_kafka_columns_bind_and_missing_topics_are_found(tmp_path: Path, kafka_bootstrap: str,
                                                          kafka_topic: Any) -> None:
    topic = kafka_topic()
    odibi = ODIBI.format(bootstrap=kafka_bootstrap)
    root = write_project(tmp_path / "a", {"events": PIPELINE.format(topic=topic, column="amount")}, odibi_yaml=odibi)
    res = validate(root, "--check-connections")
    assert res.returncode == 0, res.stderr
    bad = write_project(tmp_path / "b", {"events": PIPELINE.format(topic=topic, column="amont")}, odibi_yaml=odibi)
    res = validate(bad)
    assert res.returncode == 2 and "events.yaml:12: pipeline events node clean: SQL: unknown column 'amont'" in res.stderr
    assert "did you mean 'amount'?" in res.stderr
    gone = write_project(tmp_path / "c", {"events": PIPELINE.format(topic=f"{topic}-missing", column="amount")},
                         odibi_yaml=odibi)
    res = validate(gone, "--check-connections")
    assert res.returncode == 2
    assert f"events.yaml:5: pipeline events: topic '{topic}-missing' does not exist on {kafka_bootstrap}" in res.stderr
