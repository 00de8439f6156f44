"""Helpers for runtime tests: build a runner on a real project folder."""

from __future__ import annotations

from pathlib import Path

from deltalake import DeltaTable

from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.loader import load_project
from odibi_stream.engines import get_engine
from odibi_stream.runtime.batch import Fence
from odibi_stream.runtime.compile import compile_pipeline
from odibi_stream.runtime.runner import PipelineRunner


def runner(project: Path, pipeline: str, fence: Fence | None = None) -> PipelineRunner:
    """A fresh runner (as a restarted process would build it); it is never closed on purpose
    in tests that simulate a crash, and holds no client for file/Delta pipelines."""
    proj = load_project(project)
    return PipelineRunner(
        compile_pipeline(proj, pipeline), engine=get_engine("pandas"),
        checkpoints=CheckpointManager.open(proj.checkpoint), fence=fence,
        retain_batches=proj.config.checkpoint.retain_batches,
    )


def delta_rows(path: Path) -> list[dict]:
    """All rows of a Delta table, sorted by their repr for stable comparison."""
    return sorted(DeltaTable(str(path)).to_pyarrow_table().to_pylist(), key=repr)


def csv_lines(ids: range, *, amount: float = 10.0) -> str:
    """A small orders CSV with the given ids."""
    return "id,amount\n" + "".join(f"{i},{amount + i}\n" for i in ids)
