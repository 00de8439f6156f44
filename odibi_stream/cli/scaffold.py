"""The project folder ``odibi-stream init`` creates.

Lifecycle: called once by ``init``. Guarantees: never writes into an existing non-empty
folder; the result validates with ``odibi-stream validate`` and runs as is (a csv landing
folder read incrementally, a SQL transform, a Delta append, a file_watch trigger).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from odibi_stream.exceptions import ConfigError

PROJECT_YAML = """\
# odibi-stream project: connections, checkpoints and environment overlays.
project: {project}
engine: pandas

connections:
  local:
    type: local
    base_path: ./data          # node paths are relative to this folder

checkpoint:
  root: ./checkpoints          # offsets/commits logs per pipeline

environments:
  prod:
    checkpoint:
      root: ${{env:ODIBI_CHECKPOINT_ROOT:-./checkpoints}}
"""

PIPELINE_YAML = """\
# Every csv dropped into data/landing/example/ becomes one micro-batch appended to a Delta table.
pipeline: example
description: csv landing folder -> SQL -> Delta (append)
trigger:
  file_watch: {}

nodes:
  - name: landing
    read:
      connection: local
      format: csv
      path: landing/example/*.csv
      options:
        schema: {order_id: int64, customer: string, amount: double}   # validate binds SQL to it
      incremental:
        mode: files

  - name: orders
    depends_on: [landing]
    transform:
      sql: |
        SELECT order_id, customer, amount
        FROM landing
        WHERE amount IS NOT NULL
    write:
      connection: local
      format: delta
      path: tables/orders
      mode: append
"""

SAMPLE_CSV = """\
order_id,customer,amount
1,alice,12.50
2,bob,7.25
3,carol,30.00
"""

README = """\
# {project}

An odibi-stream project.

    odibi-stream validate .            # check every file, with file:line errors
    odibi-stream graph . --format mermaid
    odibi-stream serve .               # run continuously; drop csv files into data/landing/example
    odibi-stream --help                # every other command

Layout: `odibi.yaml` (connections, checkpoints, environments), `pipelines/*.yaml` (one pipeline
per file), `data/` (the `local` connection), `checkpoints/` (created on first run).
"""


def project_name(folder_name: str) -> str:
    """A valid project identifier derived from a folder name (``my-proj`` → ``my_proj``)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", folder_name)
    return name if re.match(r"^[A-Za-z_]", name) else f"p_{name}"


def create_project(target: Path) -> list[Path]:
    """Write the scaffold into ``target`` and return the files created.

    Raises:
        ConfigError: ``target`` exists and is not an empty folder.
    """
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(
            f"'{target}' already exists and is not empty",
            hint="choose another NAME or --dir, or remove the folder first",
        )
    name = project_name(target.resolve().name)
    files = {
        "odibi.yaml": PROJECT_YAML.format(project=name),
        "pipelines/example.yaml": PIPELINE_YAML,
        "data/landing/example/orders-0001.csv": SAMPLE_CSV,
        "README.md": README.format(project=name),
    }
    written = []
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    # The sample is complete by construction: dated a minute back, it is past the files
    # source's settle delay, so `init` then `run` at once reads it (instead of 0 batches).
    sample = target / "data/landing/example/orders-0001.csv"
    settled = time.time() - 60
    os.utime(sample, (settled, settled))
    return written
