"""Real on-disk projects for the runtime and daemon tests (files in, Delta out)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from deltalake import DeltaTable

ODIBI = """project: t
connections:
  local: {{type: local, base_path: ./data}}
checkpoint: {{root: ./checkpoints}}
runtime: {{max_concurrent_batches: {slots}, shutdown_grace_seconds: {grace}, lease_ttl_seconds: {ttl}}}
server: {{port: 0}}
"""

PIPELINE = """pipeline: {name}
max_attempts: {attempts}
trigger: {trigger}
nodes:
  - name: src
    read:
      connection: local
      format: csv
      path: landing/{name}/*.csv
      incremental: {{mode: files, settle_seconds: 0}}
  - name: out
    depends_on: [src]
{transform}    write: {{connection: local, format: delta, path: tables/{name}, mode: append}}
"""

FUNCTIONS = '''
import time

import pandas as pd


def slow(df: pd.DataFrame, seconds: float = 1.0) -> pd.DataFrame:
    time.sleep(seconds)  # test data code: a bounded long batch
    return df


def boom(df: pd.DataFrame) -> pd.DataFrame:
    raise ValueError("boom")
'''


class ProjectBuilder:
    """Writes odibi.yaml, pipelines/*.yaml and a transform module into a folder."""

    def __init__(self, root: Path, slots: int = 4, grace: float = 30.0, ttl: float = 30.0) -> None:
        self.root = root
        self.module = f"fns_{uuid.uuid4().hex[:8]}"  # unique: sys.modules caches by name
        (root / "pipelines").mkdir(parents=True, exist_ok=True)
        (root / "odibi.yaml").write_text(ODIBI.format(slots=slots, grace=grace, ttl=ttl))
        (root / f"{self.module}.py").write_text(FUNCTIONS)

    def pipeline(self, name: str, trigger: str = "{file_watch: {debounce_ms: 5}}", *,
                 function: str | None = None, params: str = "{}", attempts: int = 3) -> Path:
        transform = ""
        if function:
            transform = f"    transform: {{function: {self.module}.{function}, params: {params}}}\n"
        path = self.root / "pipelines" / f"{name}.yaml"
        path.write_text(PIPELINE.format(name=name, trigger=trigger, transform=transform, attempts=attempts))
        (self.root / "data" / "landing" / name).mkdir(parents=True, exist_ok=True)
        return path

    def drop(self, pipeline: str, fname: str, ids: list[int]) -> Path:
        """Land a csv atomically (write elsewhere, rename in)."""
        tmp = self.root / "data" / f".{fname}.tmp"
        tmp.write_text("id,val\n" + "".join(f"{i},{i * 10}\n" for i in ids))
        final = self.root / "data" / "landing" / pipeline / fname
        tmp.rename(final)
        return final

    def ids(self, pipeline: str) -> list[int]:
        path = self.root / "data" / "tables" / pipeline
        if not (path / "_delta_log").exists():
            return []
        return sorted(DeltaTable(str(path)).to_pyarrow_table().column("id").to_pylist())

    def commits(self, pipeline: str) -> int:
        folder = self.root / "checkpoints" / pipeline / "commits"
        return len(list(folder.glob("*.json"))) if folder.exists() else 0


def wait_for(cond: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll ``cond`` until true or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
