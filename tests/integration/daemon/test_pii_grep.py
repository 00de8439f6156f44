"""Personal data never leaves through a side door: grep every output of a real daemon.

A daemon (``odibi-stream serve``) runs three pipelines over records full of personal data: one
lands good rows in a masked table and a ``sensitive: true`` vault, with bad records in a jsonl
dead letter; one fails terminally on a record whose bad field holds an email address; one fails
in a SQL transform whose engine error quotes the value it could not cast.
Then every output is searched for the raw values: the daemon's log and stdout, every API
response (the batch stories included) and the status page, ``checkpoint show/history``, and every file under the project
(Delta tables read back row by row; stories and anything else written there included) — except
the inputs and the vault, which must hold them (so the search can find what it looks for).
"""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest
from deltalake import DeltaTable

from tests.conftest import CLI, cli_env, land, write_project
from tests.integration.daemon.daemon_procs import DaemonProc
from tests.unit.service.runtime_projects import wait_for

pytestmark = pytest.mark.slow

SALT = "salt-7c1f3e9a2b"
PII = ["ann.private@example.org", "bob.private@example.org", "123-45-6789", "987-65-4321",
       "+1-555-0142", "+1-555-0199", "carl.private@example.org", "dee.private@example.org",
       "erin.private@example.org"]

PEOPLE = """\
pipeline: people
trigger: {file_watch: {debounce_ms: 5}}
on_error: dead_letter
dead_letter: {connection: local, path: lake/dlq, format: jsonl}
pii: {salt: "${secret:PII_SALT}"}
nodes:
  - name: raw
    read: {connection: local, format: jsonl, path: in/*.jsonl,
           options: {schema: {id: int64, email: string, ssn: string, phone: string, age: int64}},
           incremental: {mode: files, settle_seconds: 0}}
    columns:
      email: {sensitive: true, mask: hash}
      ssn: {sensitive: true, mask: keep_last(4)}
      phone: {sensitive: true, mask: redact}
    checks: [{name: adult, expr: "age >= 18"}]
  - name: masked
    depends_on: [raw]
    write: {connection: local, format: delta, path: lake/masked, mode: merge, merge: {keys: [email], audit_columns: true}}
  - name: vault
    depends_on: [raw]
    write: {connection: local, format: delta, path: lake/vault, sensitive: true}
"""

STRICT = """\
pipeline: strict_people
trigger: {file_watch: {debounce_ms: 5}}
on_error: fail
max_attempts: 1
nodes:
  - name: raw
    read: {connection: local, format: jsonl, path: in2/*.jsonl,
           options: {schema: {id: int64, email: string, age: int64}},
           incremental: {mode: files, settle_seconds: 0}}
    columns: {email: {sensitive: true}}
    write: {connection: local, format: delta, path: lake/strict}
"""

SQL_FAILS = """\
pipeline: sql_people
trigger: {file_watch: {debounce_ms: 5}}
max_attempts: 1
nodes:
  - name: raw
    read: {connection: local, format: jsonl, path: in3/*.jsonl,
           options: {schema: {id: int64, email: string}},
           incremental: {mode: files, settle_seconds: 0}}
    columns: {email: {sensitive: true}}
  - name: typed
    depends_on: [raw]
    transform: {sql: "SELECT id, CAST(email AS INTEGER) AS n FROM raw"}
    write: {connection: local, format: delta, path: lake/typed}
"""


def _outputs_of_files(root: Path, skip: list[Path]) -> str:
    texts = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(path.is_relative_to(s) for s in skip):
            continue
        texts.append(path.read_bytes().decode("utf-8", errors="replace"))
    for log in sorted(root.rglob("_delta_log")):
        table = log.parent
        if not any(table.is_relative_to(s) for s in skip):
            texts.append(json.dumps(DeltaTable(str(table)).to_pyarrow_table().to_pylist(), default=str))
    return "\n".join(texts)


def _text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode("utf-8", errors="replace"))


def _cli(*args: str) -> str:
    done = subprocess.run([*CLI, *args], env=cli_env(), capture_output=True, text=True, timeout=120)
    return done.stdout + done.stderr


def test_personal_data_appears_only_in_the_sensitive_sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PII_SALT", SALT)
    project = write_project(tmp_path / "p", {"people": PEOPLE, "strict_people": STRICT, "sql_people": SQL_FAILS})
    daemon = DaemonProc(project, tmp_path / "daemon.log")
    try:
        rows = [
            {"id": 1, "email": PII[0], "ssn": PII[2], "phone": PII[4], "age": 40},
            {"id": 2, "email": PII[1], "ssn": PII[3], "phone": PII[5], "age": 9},
        ]
        lines = [json.dumps(r) for r in rows] + [f'{{"id": 3, "email": "{PII[6]}", "age": "old"}}', f"{{not json {PII[6]}"]
        land(project / "data" / "in", "a.jsonl", "\n".join(lines) + "\n")
        land(project / "data" / "in2", "b.jsonl", f'{{"id": 4, "email": "{PII[7]}", "age": "{PII[7]}"}}\n')
        land(project / "data" / "in3", "c.jsonl", f'{{"id": 5, "email": "{PII[8]}"}}\n')
        wait_for(lambda: daemon.pipelines()["people"]["batches"] >= 1, 60, "people committed")
        for failing in ("strict_people", "sql_people"):
            wait_for(lambda f=failing: daemon.pipelines()[f]["state"] == "failed", 60, f"{failing} failed")
        names = ("people", "strict_people", "sql_people")
        routes = ["/api/pipelines", *(f"/api/pipelines/{n}" for n in names), *(f"/api/pipelines/{n}/batches" for n in names)]
        routes += [f"/api/pipelines/{n}/batches/0" for n in names]
        wait_for(lambda: all(daemon.get(f"/api/pipelines/{n}/batches/0")[0] == 200 for n in names), 30, "stories written")
        outputs: list[object] = [daemon.get(p)[1] for p in routes]
        story = daemon.get("/api/pipelines/people/batches/0")[1]
        assert "adult" in json.dumps(story), "the story of the batch holds its dead-letter samples"
        outputs += [_text(daemon.url + p) for p in ("/metrics", "/")]
        for name in ("people", "strict_people", "sql_people"):
            outputs.append(_cli("checkpoint", "history", str(project), "--pipeline", name, "--json"))
            outputs.append(_cli("checkpoint", "show", str(project), "--pipeline", name))
        daemon.terminate(signal.SIGTERM)
        daemon.wait(60)
        outputs += [daemon.stderr(), "".join(daemon.stdout)]
        data = project / "data"
        outputs.append(_outputs_of_files(project, [data / "in", data / "in2", data / "in3", data / "lake" / "vault"]))
        text = "\n".join(o if isinstance(o, str) else json.dumps(o, default=str) for o in outputs)
    finally:
        daemon.terminate(signal.SIGKILL)
        daemon.wait(30)
    assert "people" in text and "strict_people" in text and "adult" in text, "the outputs were collected"
    assert "cannot convert '[MASKED]'" in text, "the failure's error text is in the outputs, masked"
    assert "Could not convert string '[MASKED]'" in text, "the SQL error is in the outputs, masked"
    leaks = [v for v in [*PII, SALT] if v in text]
    assert leaks == []
    vault = json.dumps(DeltaTable(str(project / "data" / "lake" / "vault")).to_pyarrow_table().to_pylist())
    assert PII[0] in vault and PII[2] in vault, "raw values do reach the sensitive sink"
