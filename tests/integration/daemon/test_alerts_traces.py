"""Alerts and OpenTelemetry traces end to end: a real daemon and a real CLI run, a local webhook
receiver and a local OTLP/HTTP receiver decoding the real protobuf payloads."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from odibi_stream.api import Runtime
from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.config.tracing_models import TracingConfig
from odibi_stream.observability.tracing import tracing_settings
from odibi_stream.service.history import StoryStore
from tests.conftest import CLI, cli_env, land, write_project
from tests.http_receiver import receiving
from tests.otlp import spans

pytestmark = pytest.mark.slow

PIPE = """\
pipeline: {name}
max_attempts: 1
trigger: {{file_watch: {{debounce_ms: 5}}}}
nodes:
  - name: raw
    read: {{connection: local, format: csv, path: landing/{name}/*.csv, incremental: {{mode: files, settle_seconds: 0, max_files_per_batch: 1}}}}
  - name: clean
    depends_on: [raw]
    transform: {{sql: "SELECT id, {column} AS v FROM raw"}}
  - name: lake
    depends_on: [clean]
    write: {{connection: local, format: delta, path: lake/{name}}}
"""


def poll(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)  # polling files/HTTP state with a deadline
    return value


def test_cli_run_exports_a_trace_per_batch_via_otel_env_and_logs_carry_the_ids(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"ok": PIPE.format(name="ok", column="val")})
    for i in range(2):
        land(root / "data" / "landing" / "ok", f"{i}.csv", "id,val\n" + "".join(f"{i * 10 + j},{j}\n" for j in range(4)))
    with receiving() as collector:
        env = {**cli_env(), "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_SERVICE_NAME": "odibi-test",
               "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=ci"}
        proc = subprocess.run([*CLI, "--log-format", "json", "run", str(root)], env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        found = spans(collector.requests)
    assert {r.path for r in collector.requests} == {"/v1/traces"}
    stories = StoryStore(LocalCheckpointStore(root / "checkpoints"), 100)
    traces = {s["trace_id"]: s for s in (stories.read("ok", b) for b in (0, 1)) if s}
    assert len(traces) == 2
    logged = {line["trace_id"]: line for line in map(orjson.loads, proc.stderr.splitlines())
              if line.get("msg", "").startswith("committed ok batch")}
    assert set(logged) == set(traces), "each batch's log line carries its trace id"
    for trace_id, story in traces.items():
        mine = [s for s in found if s.trace_id == trace_id]
        by_name = {s.name: s for s in mine}
        root_span = by_name["batch"]
        assert root_span.parent == "" and root_span.status == 0
        assert root_span.attributes == {"odibi.pipeline": "ok", "odibi.batch": story["batch"], "odibi.status": "committed",
                                        "odibi.replayed": False, "odibi.rows_in": 4, "odibi.rows_out": 4,
                                        "odibi.rejected": 0, "odibi.late": 0}
        assert root_span.resource["service.name"] == "odibi-test"
        assert root_span.resource["deployment.environment"] == "ci"
        assert root_span.resource["odibi.project"] == "test"
        steps = [s for s in mine if s.parent == root_span.span_id]
        assert [s.name for s in sorted(steps, key=lambda s: s.start_ns)] == [x["step"] for x in story["steps"]]
        assert all(s.attributes["odibi.step"] == s.name for s in steps)
        execute = by_name["execute"]
        nodes = {s.name: s for s in mine if s.parent == execute.span_id}
        assert set(nodes) == {"node raw", "node clean", "node lake"}
        raw = nodes["node raw"].attributes
        assert raw["odibi.node"] == "raw" and raw["odibi.rows_out"] == 4 and raw["odibi.files"] == 1
        assert raw["odibi.bytes"] == story["inputs"]["raw"]["size"]["bytes"]
        assert orjson.loads(raw["odibi.source.range"])["files"][0]["path"] == story["inputs"]["raw"]["range"]["files"][0]["path"]
        assert nodes["node lake"].attributes["odibi.sink.version"] == story["outputs"][0]["sink"]["version"]
        for node in nodes.values():
            assert execute.start_ns <= node.start_ns <= node.end_ns <= execute.end_ns + 1_000_000
        assert root_span.start_ns <= min(s.start_ns for s in steps) and root_span.end_ns >= max(s.end_ns for s in steps)


def test_daemon_alerts_and_error_spans_from_odibi_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with receiving() as hook, receiving() as collector:
        monkeypatch.setenv("ALERT_HOOK", hook.url + "/alerts/T0KEN-in-the-path")
        odibi = f"""\
project: alerting
checkpoint: {{root: ./checkpoints}}
connections:
  local: {{type: local, base_path: ./data}}
tracing: {{endpoint: "{collector.url}/v1/traces", service_name: daemon-under-test}}
alerts:
  - name: oncall
    on: [failed, recovered]
    webhook: {{url: "${{secret:ALERT_HOOK}}", headers: {{X-Team: data}}}}
"""
        root = write_project(tmp_path / "p", {"bad": PIPE.format(name="bad", column="missing_column")}, odibi_yaml=odibi)
        (root / "data" / "landing" / "bad").mkdir(parents=True)
        runtime = Runtime.from_project(root, port=0)
        with runtime.background():
            land(root / "data" / "landing" / "bad", "a.csv", "id,val\n1,2\n")
            [alert] = [orjson.loads(r.body) for r in hook.wait_for(lambda got: len(got) >= 1)]
            story = poll(lambda: StoryStore(LocalCheckpointStore(root / "checkpoints"), 100).read("bad", 0), "story")
        # The drain flushed the exporter: the failed attempt's spans are in.
        found = [s for s in spans(collector.requests) if s.trace_id == story["trace_id"]]
    assert hook.requests[0].path == "/alerts/T0KEN-in-the-path" and hook.requests[0].headers["x-team"] == "data"
    where = f"{root / 'pipelines' / 'bad.yaml'}:7"
    assert {k: alert[k] for k in ("event", "project", "pipeline", "rule", "batch", "step", "node", "where")} == {
        "event": "failed", "project": "alerting", "pipeline": "bad", "rule": "oncall", "batch": 0,
        "step": "execute", "node": "clean", "where": where,
    }
    assert alert["error"]["type"] == "TransformError" and "missing_column" in alert["error"]["message"]
    assert story["error"]["where"] == where
    by_name = {s.name: s for s in found}
    assert by_name["batch"].status == 2 and by_name["batch"].resource["service.name"] == "daemon-under-test"
    assert by_name["execute"].status == 2 and by_name["execute"].attributes["odibi.error.where"] == where
    node = by_name["node clean"]
    assert node.parent == by_name["execute"].span_id and node.status == 2
    assert node.events[0][0] == "exception" and node.events[0][1]["exception.type"] == "TransformError"
    assert by_name["plan"].status == 0 and "commit" not in by_name


def test_tracing_settings_follow_config_then_otel_env() -> None:
    assert tracing_settings(None, {}) is None
    assert tracing_settings(TracingConfig(enabled=False), {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) is None
    assert tracing_settings(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}) is None
    env = tracing_settings(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/", "OTEL_SERVICE_NAME": "svc"})
    assert env is not None and (env.endpoint, env.service_name, env.headers) == ("http://c:4318/v1/traces", "svc", None)
    traces = tracing_settings(None, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t/x"})
    assert traces is not None and traces.endpoint == "http://t/x"
    mine = tracing_settings(TracingConfig(endpoint="http://mine/v1/traces", headers={"a": "b"}),
                            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert mine is not None and (mine.endpoint, mine.headers, mine.service_name) == ("http://mine/v1/traces", {"a": "b"}, "odibi-stream")
    on = tracing_settings(TracingConfig(enabled=True), {})
    assert on is not None and on.endpoint == "http://localhost:4318/v1/traces"
