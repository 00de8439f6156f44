"""Helpers of the deployment tests: shell calls with deadlines, polling, projects, timings."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "deploy"
QUICKSTART = REPO / "examples" / "quickstart"
DOCKER = "/usr/bin/docker"  # Debian's client: BuildKit built in (lib.sh uses the same)
CACHE = Path(os.environ.get("DEPLOY_CACHE", REPO / ".cache" / "deploy"))
LOGS = CACHE / "logs"
BIN = CACHE / "bin"
T = TypeVar("T")
PREPARE_TIMEOUT = float(os.environ.get("ODIBI_DEPLOY_PREPARE_TIMEOUT", 2400))


def version() -> str:
    for line in (REPO / "pyproject.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    raise AssertionError("no version in pyproject.toml")


IMAGE = f"odibi-stream:{os.environ.get('ODIBI_IMAGE_TAG', version())}"
SYSTEMD_IMAGE = f"odibi-systemd-test:{os.environ.get('ODIBI_IMAGE_TAG', version())}"
SPARK_IMAGE = f"{IMAGE}-spark"


def sh(*args: str | Path, timeout: float = 120, check: bool = True, input: str | None = None,
       env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure (check) raise with its output (never silent)."""
    proc = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, input=input,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(str(a) for a in args)} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def docker(*args: str | Path, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh(DOCKER, *args, timeout=timeout, check=check)


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except (OSError, AssertionError, ValueError) as exc:  # not up yet
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_json(url: str, token: str | None = None, timeout: float = 3) -> tuple[int, Any]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def pipeline_state(base_url: str, token: str, name: str = "orders_bronze") -> dict[str, Any]:
    code, body = http_json(f"{base_url}/api/pipelines/{name}", token)
    assert code == 200, body
    return dict(body)


SLOW_PIPELINE = """\
# The quickstart pipeline, one file per batch, with a slow step: a batch is in flight for
# {delay}s, long enough to stop the process in the middle of one.
pipeline: orders_bronze
trigger: {{file_watch: {{}}}}
on_error: dead_letter
dead_letter: {{connection: local, path: lake/dead_letter/orders, format: delta}}
nodes:
  - name: raw_orders
    read:
      connection: local
      format: csv
      path: landing/orders/*.csv
      options: {{schema: {{order_id: int64, customer: string, amount: double, ordered_at: timestamp}}}}
      incremental: {{mode: files, max_files_per_batch: 1, settle_seconds: 0.2}}
  - name: enrich
    depends_on: [raw_orders]
    transform: {{function: quickstart_fns.enrich.add_currency, params: {{currency: EUR}}}}
  - name: slow
    depends_on: [enrich]
    transform: {{function: quickstart_fns.slow.pause, params: {{seconds: {delay}}}}}
  - name: bronze
    depends_on: [slow]
    write: {{connection: local, format: delta, path: lake/bronze/orders, mode: append}}
"""

SLOW_FN = '''\
"""A deliberately slow step for the deployment tests."""

from __future__ import annotations

import time

import pandas as pd


def pause(df: pd.DataFrame, seconds: float) -> pd.DataFrame:
    time.sleep(seconds)
    return df
'''


def slow_project(root: Path, delay: float = 1.5) -> Path:
    """The quickstart (with its `container` overlay) whose batches take ``delay`` seconds."""
    shutil.copytree(QUICKSTART, root, ignore=shutil.ignore_patterns("samples", "__pycache__", "data", "checkpoints"))
    (root / "pipelines" / "orders.yaml").write_text(SLOW_PIPELINE.format(delay=delay))
    (root / "quickstart_fns" / "slow.py").write_text(SLOW_FN)
    for folder, _dirs, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return root


def order_csv(first_id: int, rows: int) -> str:
    lines = ["order_id,customer,amount,ordered_at"]
    lines += [f"{i},Customer{i % 7},{10 + i % 90}.5,2026-01-01T00:00:{i % 60:02d}" for i in range(first_id, first_id + rows)]
    return "\n".join(lines) + "\n"


def land_orders(folder: Path, first_file: int, files: int, rows: int = 20) -> list[int]:
    """Land ``files`` CSV files atomically (temp name + rename); returns every order id."""
    folder.mkdir(parents=True, exist_ok=True)
    ids: list[int] = []
    for n in range(first_file, first_file + files):
        first = n * 1000
        tmp = folder / f".orders-{n:04d}.tmp"
        tmp.write_text(order_csv(first, rows))
        os.chmod(tmp, 0o644)
        os.replace(tmp, folder / f"orders-{n:04d}.csv")
        ids += list(range(first, first + rows))
    return ids


def delta_ids(table: Path) -> list[int]:
    """Every order_id in a Delta table (sorted, duplicates kept)."""
    from deltalake import DeltaTable

    if not (table / "_delta_log").is_dir():
        return []
    return sorted(DeltaTable(str(table)).to_pyarrow_table(columns=["order_id"]).column("order_id").to_pylist())


def record_time(what: str, seconds: float, outcome: str = "passed") -> None:
    """Append a wall time to logs/times.log (the terminal summary prints this run's lines)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    with (LOGS / "times.log").open("a") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} test:{what} {seconds:.0f}s {outcome}\n")


def record_fact(name: str, text: str) -> None:
    """Keep a measured fact (image size, security score) for the terminal summary."""
    folder = LOGS / "facts"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.txt").write_text(text.strip() + "\n")


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason`` printed; a failure instead when the run requires deployment."""
    if os.environ.get("ODIBI_REQUIRE_DEPLOY") == "1":
        pytest.fail(f"deployment tests required (ODIBI_REQUIRE_DEPLOY=1) but: {reason}")
    print(f"\nSKIP deployment test: {reason}", file=sys.stderr)
    pytest.skip(reason)


def prepare(*steps: str, timeout: float = PREPARE_TIMEOUT) -> None:
    """Run prepare.sh STEPS (waits for a background run holding a step); skip/fail on error."""
    start = time.monotonic()
    try:
        proc = subprocess.run(["bash", str(SCRIPTS / "prepare.sh"), *steps], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        skip_or_fail(f"prepare.sh {' '.join(steps)} did not finish within {timeout:.0f}s "
                     f"(log: {LOGS / 'prepare.log'})")
        return
    if proc.returncode != 0:
        skip_or_fail(f"prepare.sh {' '.join(steps)} failed after {time.monotonic() - start:.0f}s:\n"
                     f"{proc.stderr[-2500:]}")
