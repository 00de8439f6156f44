"""Chaos harness: run ``odibi-stream run`` as a child process, kill it, restart, repeat.

Kills come two ways: at a named protocol step (``ODIBI_FAULT=<point>:<n>``, the process
SIGKILLs itself there) and at a random wall-clock instant (the parent sends SIGKILL). The
harness then runs to completion and the test asserts the sink holds every record exactly once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import CLI, cli_env, land


@dataclass
class ChaosLog:
    """What happened, for assertion messages."""

    runs: list[str] = field(default_factory=list)
    kills: int = 0


def make_input(folder: Path, n_files: int, rows_per_file: int, start_id: int = 0) -> list[int]:
    """Land ``n_files`` JSON-lines files of unique ids; return the ids."""
    ids: list[int] = []
    for f in range(n_files):
        lines = []
        for r in range(rows_per_file):
            i = start_id + f * rows_per_file + r
            ids.append(i)
            lines.append(json.dumps({"id": i, "amount": i % 97, "kind": "k" + str(i % 5)}))
        land(folder, f"in-{start_id + f:06d}.jsonl", "\n".join(lines) + "\n", age_seconds=60)
    return ids


def run_cli(project: Path, pipeline: str, *, fault: str | None = None, timeout: float = 120) -> int:
    """Run the CLI to completion (or until a fault kills it); return the exit code."""
    env = cli_env()
    if fault:
        env["ODIBI_FAULT"] = fault
    proc = subprocess.run(
        [*CLI, "run", str(project), "--pipeline", pipeline, "--quiet"],
        env=env, capture_output=True, text=True, timeout=timeout,
    )
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.returncode


def kill_at_random(project: Path, pipeline: str, rng: random.Random, max_delay: float) -> int:
    """Start a run and SIGKILL it after a random delay (a power cut at a random instant)."""
    proc = subprocess.Popen(
        [*CLI, "run", str(project), "--pipeline", pipeline, "--quiet"],
        env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + rng.uniform(0.0, max_delay)
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)  # the kill instant itself is the random variable, not a synchronisation
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"run failed ({proc.returncode}): {err}")
    return proc.returncode
