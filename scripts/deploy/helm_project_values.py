#!/usr/bin/env python3
"""Print Helm values holding a project folder's files, for deploy/helm/odibi-stream.

    python3 scripts/deploy/helm_project_values.py examples/quickstart > project-values.yaml
    helm install odibi deploy/helm/odibi-stream -f project-values.yaml

Output is JSON (which is YAML): {"project": {"files": {"odibi.yaml": "...", "pipelines/x.yaml":
"...", ...}}}. Text files only; caches, checkpoints and data folders are skipped (the project
folder of a deployment is configuration, its state lives on the state volume).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SKIP_DIRS = {"__pycache__", "checkpoints", "data", ".git", ".venv", "samples"}
MAX_BYTES = 900_000  # a ConfigMap holds at most 1 MiB


def project_files(root: Path) -> dict[str, str]:
    """Relative path -> text of every file under ``root`` that belongs in the ConfigMap."""
    files: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or any(part in SKIP_DIRS for part in rel.parts[:-1]):
            continue
        if path.suffix in (".pyc", ".pyo"):
            continue
        try:
            files[rel.as_posix()] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            print(f"skipping binary file {rel}", file=sys.stderr)
    if "odibi.yaml" not in files:
        raise SystemExit(f"{root}: no odibi.yaml (not a project folder)")
    if sum(len(v.encode()) for v in files.values()) > MAX_BYTES:
        raise SystemExit(f"{root}: project files exceed a ConfigMap's 1 MiB; use project.existingConfigMap")
    return files


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    json.dump({"project": {"files": project_files(Path(argv[1]))}}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
