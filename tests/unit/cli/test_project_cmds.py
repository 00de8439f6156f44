"""init / validate / graph / schema through the real ``odibi-stream`` console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(sys.executable).parent / "odibi-stream"
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "odibi_stream.cli.main"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1", COLUMNS="200")
    return subprocess.run(
        [*COMMAND, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def scaffold(tmp_path: Path) -> Path:
    proc = run("init", "demo-proj", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "demo-proj"


def test_init_creates_a_project_that_validates(scaffold: Path) -> None:
    assert (scaffold / "odibi.yaml").is_file()
    assert (scaffold / "pipelines" / "example.yaml").is_file()
    assert list((scaffold / "data" / "landing" / "example").glob("*.csv"))
    assert (scaffold / "README.md").is_file()
    assert "project: demo_proj" in (scaffold / "odibi.yaml").read_text()
    proc = run("validate", "demo-proj", cwd=scaffold.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok: 1 pipeline (example)"
    proc = run("validate", "demo-proj", "--env", "prod", cwd=scaffold.parent)
    assert proc.returncode == 0, proc.stderr


def test_init_with_dir_and_refusal_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    proc = run("init", "p1", "--dir", "base", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "base" / "p1" / "odibi.yaml").is_file()
    before = (tmp_path / "base" / "p1" / "odibi.yaml").read_text()
    (tmp_path / "base" / "p1" / "odibi.yaml").write_text(before + "# mine\n")
    proc = run("init", "p1", "--dir", "base", cwd=tmp_path)
    assert proc.returncode == 2
    assert "already exists and is not empty" in proc.stderr
    assert "hint:" in proc.stderr
    assert (tmp_path / "base" / "p1" / "odibi.yaml").read_text().endswith("# mine\n")
    (tmp_path / "empty").mkdir()
    assert run("init", "empty", cwd=tmp_path).returncode == 0


def test_validate_reports_file_line_and_hint(scaffold: Path) -> None:
    example = (scaffold / "pipelines" / "example.yaml").read_text().splitlines(keepends=True)
    assert example[6].strip() == "nodes:"
    example[6] = "nodse:\n"
    (scaffold / "pipelines" / "x.yaml").write_text(
        "".join(example).replace("pipeline: example", "pipeline: x")
    )
    proc = run("validate", "demo-proj", cwd=scaffold.parent)
    assert proc.returncode == 2
    assert "pipelines/x.yaml:7: unknown key 'nodse'" in proc.stderr
    assert "hint: did you mean 'nodes'?" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_validate_several_errors_and_unknown_env(scaffold: Path) -> None:
    text = (scaffold / "pipelines" / "example.yaml").read_text()
    broken = text.replace("depends_on: [landing]", "depends_on: [landng]").replace(
        "format: delta", "format: delt"
    )
    (scaffold / "pipelines" / "example.yaml").write_text(broken)
    proc = run("validate", str(scaffold), cwd=scaffold.parent)
    assert proc.returncode == 2
    assert proc.stderr.count("error: ") == 1  # the model error stops this file before the DAG check
    assert "did you mean 'delta'?" in proc.stderr
    (scaffold / "pipelines" / "example.yaml").write_text(
        text.replace("format: delta", "format: delt")
    )
    (scaffold / "pipelines" / "y.yaml").write_text(
        broken.replace("format: delt", "format: delta").replace("pipeline: example", "pipeline: y")
    )
    proc = run("validate", str(scaffold), cwd=scaffold.parent)
    assert proc.returncode == 2
    assert proc.stderr.count("error: ") == 2
    assert "did you mean 'landing'?" in proc.stderr
    proc = run("validate", str(scaffold), "--env", "staging", cwd=scaffold.parent)
    assert proc.returncode == 2
    assert "unknown environment 'staging'" in proc.stderr
    assert "hint: known environments: prod" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_validate_missing_project(tmp_path: Path) -> None:
    proc = run("validate", "nothing-here", cwd=tmp_path)
    assert proc.returncode == 2
    assert "hint: run 'odibi-stream init NAME'" in proc.stderr


def test_graph_text_and_mermaid(scaffold: Path) -> None:
    proc = run("graph", "demo-proj", cwd=scaffold.parent)
    assert proc.returncode == 0, proc.stderr
    assert "layer 1: orders (transform+write) <- landing" in proc.stdout
    proc = run(
        "graph", "demo-proj", "--pipeline", "example", "--format", "mermaid", cwd=scaffold.parent
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("flowchart LR\n")
    assert "landing --> orders" in proc.stdout
    proc = run("graph", "demo-proj", "--pipeline", "exampel", cwd=scaffold.parent)
    assert proc.returncode == 2
    assert "unknown pipeline 'exampel'" in proc.stderr
    assert "hint: did you mean 'example'?" in proc.stderr


@pytest.mark.parametrize("kind", ["project", "pipeline"])
def test_schema(tmp_path: Path, kind: str) -> None:
    proc = run("schema", "--kind", kind, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["additionalProperties"] is False
    assert ("connections" in schema["properties"]) == (kind == "project")


def test_init_then_run_at_once_reads_the_sample(tmp_path: Path) -> None:
    # The sample must not wait out the settle delay: `init` and `run` back to back read it
    # (a freshly written file would be skipped by `run` as possibly still being written).
    from odibi_stream.cli.scaffold import create_project
    from odibi_stream.service.one_shot import run_pipeline
    from odibi_stream.service.project import load

    create_project(tmp_path / "p")
    reports = run_pipeline(load(tmp_path / "p"), "example")
    assert [r.batch for r in reports] == [0]
