"""Issue 17 finding 4: secrets were persisted.

A check expression with ``${secret:..}`` landed in the dead letter's ``_odibi_error``; a secret
inside a path landed in ``offsets/N.json``, ``commits/N.json`` and ``checkpoint show|history
--json``. Now every persisted string holds the reference (``${secret:TENANT}``) instead, and a
batch planned with such a path still replays after a crash (the reference is resolved on read).
Fails on the old code (the files hold the value).
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from deltalake import DeltaTable

from tests.conftest import CLI, cli_env, land, write_project

TENANT = "Tn7vQ2xK9pLm4R"
LIMIT = "Lm3wZ8qR5tYv2K"
SECRETS = (TENANT, LIMIT)

ODIBI = """\
project: t
checkpoint: {root: ./checkpoints}
connections:
  tenant: {type: local, base_path: "./data/${secret:TENANT}"}
"""

PIPELINE = """\
pipeline: p
dead_letter: {connection: tenant, path: dead, format: jsonl}
nodes:
  - name: src
    read:
      connection: tenant
      format: csv
      path: "landing/${secret:TENANT}/*.csv"
      options: {schema: {id: int64, note: string}}
      incremental: {mode: files, settle_seconds: 0}
    checks:
      - {name: not_the_limit, expr: "note <> '${secret:LIMIT}'"}
    on_error: dead_letter
  - name: out
    depends_on: [src]
    write: {connection: tenant, format: delta, path: tables/p}
  - name: copy
    depends_on: [src]
    write: {connection: tenant, format: parquet, path: out/p}
"""


def pieces() -> set[str]:
    return {s[i:j] for s in SECRETS for i in range(len(s)) for j in range(i + 4, len(s) + 1)}


def leaks(text: str) -> list[str]:
    return sorted(p for p in pieces() if p in text)


def odibi(root: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**cli_env(), "TENANT": TENANT, "LIMIT": LIMIT}
    if fault:
        env["ODIBI_FAULT"] = fault
    return subprocess.run([*CLI, *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def test_paths_and_checks_with_secrets_are_never_persisted_and_still_replay(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj", {"p": PIPELINE}, odibi_yaml=ODIBI)
    landing = root / "data" / TENANT / "landing" / TENANT
    land(landing, "a.csv", "id,note\n1,ok\n2,fine\n")
    land(landing, "b.csv", f"id,note\n3,{LIMIT}\n4,ok\n")

    crashed = odibi(root, "run", str(root), fault="after_write_ahead:1")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    offsets = root / "checkpoints" / "p" / "offsets" / "0.json"
    planned = offsets.read_text()
    assert "landing/${secret:TENANT}/a.csv" in planned and not leaks(planned)

    done = odibi(root, "run", str(root))  # replays batch 0 from the persisted references
    assert done.returncode == 0, done.stderr
    table = DeltaTable(str(root / "data" / TENANT / "tables" / "p")).to_pyarrow_table()
    assert sorted(table.column("id").to_pylist()) == [1, 2, 4]

    dead = [json.loads(line) for f in sorted((root / "data" / TENANT / "dead").glob("*.jsonl"))
            for line in f.read_text().splitlines()]
    assert [d["_odibi_error"] for d in dead] == ["check 'not_the_limit' failed: note <> '${secret:LIMIT}'"]

    persisted = [p for p in (root / "checkpoints").rglob("*") if p.is_file()]
    persisted += [p for p in (root / "data").rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl")]
    assert any(p.parent.name == "commits" for p in persisted)
    for path in persisted:
        assert not leaks(path.read_text(errors="replace")), path

    for command in ("show", "history"):
        out = odibi(root, "checkpoint", command, str(root), "--pipeline", "p", "--json")
        assert out.returncode == 0, out.stderr
        json.loads(out.stdout)  # still valid JSON after redaction
        assert "${secret:TENANT}" in out.stdout
        assert not leaks(out.stdout + out.stderr)
