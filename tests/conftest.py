"""Shared fixtures: write real project folders for tests."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "odibi_stream.cli.main"]


def write_project(
    root: Path,
    pipelines: dict[str, str],
    *,
    odibi_yaml: str | None = None,
    files: dict[str, str] | None = None,
) -> Path:
    """Create a project folder with ``odibi.yaml`` and ``pipelines/<name>.yaml`` files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pipelines").mkdir(exist_ok=True)
    (root / "odibi.yaml").write_text(
        textwrap.dedent(
            odibi_yaml
            or """\
            project: test
            checkpoint: {root: ./checkpoints}
            connections:
              local: {type: local, base_path: ./data}
            """
        )
    )
    for name, text in pipelines.items():
        (root / "pipelines" / f"{name}.yaml").write_text(textwrap.dedent(text))
    for rel, text in (files or {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


def land(folder: Path, name: str, text: str, *, age_seconds: float = 10.0) -> Path:
    """Atomically land a data file (temp + rename) with an mtime in the past (settled)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp"
    tmp.write_text(text)
    final = folder / name
    os.replace(tmp, final)
    st = final.stat()
    os.utime(final, ns=(st.st_atime_ns, st.st_mtime_ns - int(age_seconds * 1e9)))
    return final


@pytest.fixture
def project_factory(tmp_path: Path) -> Callable[..., Path]:
    """Build a project under tmp_path: ``project_factory({"p": yaml}, files={...})``."""

    def make(pipelines: dict[str, str], **kw: object) -> Path:
        return write_project(tmp_path / "project", pipelines, **kw)  # type: ignore[arg-type]

    return make


def cli_env() -> dict[str, str]:
    """Environment for CLI subprocesses: the repo importable, no colour codes."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env
