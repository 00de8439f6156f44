"""``validate`` proves a pipeline will run, without touching data (issue 10 #2).

Each case was ``ok`` before: SQL naming a missing column, a SQL syntax error, an unknown table,
a check on a missing column, an unimportable transform module. Now each is ``file:line`` of the
offending text + a did-you-mean, exit 2 — and nothing is read or written.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.conftest import CLI, cli_env, write_project

ODIBI = """\
project: t
checkpoint: {root: ./checkpoints}
connections:
  local: {type: local, base_path: ./data}
"""

GOOD = """\
pipeline: events
trigger: {file_watch: {}}
nodes:
  - name: raw
    read:
      connection: local
      format: csv
      path: landing/*.csv
      options: {schema: {device: string, amount: double, ts: timestamp}}
      incremental: {mode: files}
    checks:
      - {name: positive, expr: "amount > 0"}
  - name: clean
    depends_on: [raw]
    transform:
      sql: |
        SELECT device,
               amount * 2 AS doubled,
               ts
        FROM raw
    write: {connection: local, format: delta, path: tables/events, mode: merge, merge_keys: [device]}
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=cli_env(), timeout=120)


def project(tmp_path: Path, text: str, **kw: object) -> Path:
    return write_project(tmp_path / "p", {"events": text}, odibi_yaml=kw.pop("odibi_yaml", ODIBI), **kw)  # type: ignore[arg-type]


def test_a_correct_pipeline_validates_and_nothing_is_written(tmp_path: Path) -> None:
    root = project(tmp_path, GOOD)
    res = run("validate", str(root))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok: 1 pipeline (events)"
    assert not (root / "checkpoints").exists() and not (root / "data").exists()


def test_unknown_column_in_sql_names_its_line_and_the_closest_column(tmp_path: Path) -> None:
    root = project(tmp_path, GOOD.replace("amount * 2", "amout * 2"))
    res = run("validate", str(root))
    assert res.returncode == 2
    # line 18 of the YAML is the SQL's second line, where `amout` is
    assert f"{root}/pipelines/events.yaml:18: pipeline events node clean: SQL: unknown column 'amout'" in res.stderr
    assert "hint: did you mean 'amount'?" in res.stderr
    assert "Traceback" not in res.stderr


def test_sql_syntax_error_and_unknown_table(tmp_path: Path) -> None:
    res = run("validate", str(project(tmp_path, GOOD.replace("SELECT device,", "SELEC device,"))))
    assert res.returncode == 2
    assert "events.yaml:17: pipeline events node clean: SQL: syntax error at or near 'SELEC'" in res.stderr
    res = run("validate", str(project(tmp_path / "2", GOOD.replace("FROM raw", "FROM rwa"))))
    assert res.returncode == 2
    assert "events.yaml:20: pipeline events node clean: SQL: unknown table 'rwa'" in res.stderr
    assert "did you mean 'raw'?" in res.stderr


def test_checks_merge_keys_and_watermark_columns_are_checked(tmp_path: Path) -> None:
    text = (GOOD.replace('expr: "amount > 0"', 'expr: "amont > 0"')
            .replace("merge_keys: [device]", "merge_keys: [devise]")
            .replace("incremental: {mode: files}", "incremental: {mode: files}\n      watermark: {column: seen}"))
    res = run("validate", str(project(tmp_path, text)))
    assert res.returncode == 2
    err = res.stderr
    assert "events.yaml:13: pipeline events node raw: check 'positive': unknown column 'amont'" in err
    assert "did you mean 'amount'?" in err
    assert "node clean: unknown merge key 'devise'" in err and "did you mean 'device'?" in err
    assert "node raw: unknown watermark column 'seen'" in err


def test_the_readmes_missing_transform_module_is_an_error_at_its_line(tmp_path: Path) -> None:
    text = GOOD + """\
  - name: enrich
    depends_on: [clean]
    transform: {function: my_pkg.transforms.enrich, params: {currency: EUR}}
"""
    res = run("validate", str(project(tmp_path, text)))
    assert res.returncode == 2
    assert "events.yaml:24: transform 'my_pkg.transforms.enrich': cannot import module" in res.stderr
    assert "No module named 'my_pkg'" in res.stderr


def test_every_error_of_the_project_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("amount * 2", "amout * 2") + """\
  - name: enrich
    depends_on: [clean]
    transform: {function: my_pkg.transforms.enrich}
"""
    res = run("validate", str(project(tmp_path, text)))
    assert res.returncode == 2
    assert "unknown column 'amout'" in res.stderr and "my_pkg" in res.stderr


def test_sample_reads_the_columns_of_a_present_file(tmp_path: Path) -> None:
    text = GOOD.replace("      options: {schema: {device: string, amount: double, ts: timestamp}}\n", "")
    root = project(tmp_path, text.replace("amount * 2", "amount * 2, colour"),
                   files={"data/landing/a.csv": "device,amount,ts,color\nx,1.5,2024-01-01T00:00:00,red\n"})
    res = run("validate", str(root))
    assert res.returncode == 0, res.stderr  # no declared schema: not bound, and it says so
    assert "note: pipeline events node clean: SQL not bound, columns of raw: no declared schema" in res.stdout
    res = run("validate", str(root), "--sample")
    assert res.returncode == 2
    assert "unknown column 'colour'" in res.stderr and "did you mean 'color'?" in res.stderr


def test_registered_transforms_come_from_the_transforms_list(tmp_path: Path) -> None:
    module = "fns_registered_t"
    odibi = ODIBI + f"transforms: [{module}]\n"
    text = GOOD + """\
  - name: tagged
    depends_on: [clean]
    transform: {function: tag_rows, params: {label: x}}
"""
    fns = (
        "import odibi_stream\n\n\n@odibi_stream.transform\n"
        "def tag_rows(df, label):\n    return df.assign(label=label)\n"
    )
    root = project(tmp_path, text, odibi_yaml=odibi, files={
        f"{module}.py": fns, "data/landing/a.csv": "device,amount,ts\nx,1.5,2024-01-01T00:00:00\n"})
    os.utime(root / "data" / "landing" / "a.csv", (time.time() - 60, time.time() - 60))
    res = run("validate", str(root))
    assert res.returncode == 0, res.stderr
    res = run("run", str(root))  # `run` finds the registered function too (it did not before)
    assert res.returncode == 0, res.stderr
    assert "events: 1 batch(es), 1 rows in, 1 rows out" in res.stdout
    (root / f"{module}.py").write_text("import odibi_stream\nraise RuntimeError('broken at import')\n")
    res = run("validate", str(root))
    assert res.returncode == 2
    assert f"odibi.yaml:5: transforms: module '{module}' failed to import: RuntimeError: broken at import" in res.stderr
    assert f"{module}.py:2)" in res.stderr
    (root / "odibi.yaml").write_text(ODIBI)  # not listed: the name is unknown, with the way out
    res = run("validate", str(root))
    assert res.returncode == 2
    assert "events.yaml:24: unknown transform 'tag_rows'" in res.stderr
    assert "'transforms:' in odibi.yaml" in res.stderr


def test_check_connections_reaches_folders_and_brokers(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    odibi = ODIBI + f"  bus: {{type: kafka, options: {{bootstrap.servers: '127.0.0.1:{port}'}}}}\n"
    text = GOOD + """\
  - name: out
    depends_on: [clean]
    write: {connection: bus, format: kafka, topic: clean_events}
"""
    root = project(tmp_path, text, odibi_yaml=odibi)
    res = run("validate", str(root))
    assert res.returncode == 0, res.stderr
    res = run("validate", str(root), "--check-connections", "--timeout", "1")
    assert res.returncode == 2
    assert "events.yaml:5: pipeline events: folder" in res.stderr and "does not exist" in res.stderr
    assert f"odibi.yaml:5: connection 'bus': no answer from the brokers 127.0.0.1:{port} within 1 s" in res.stderr
    (root / "data" / "landing").mkdir(parents=True)
    res = run("validate", str(root), "--check-connections", "--timeout", "1")
    assert "does not exist" not in res.stderr and "no answer from the brokers" in res.stderr
