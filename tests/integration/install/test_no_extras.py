"""``pip install odibi-stream`` with no extras runs every command (issue 10 #1).

The wheel is built from this checkout (``pip wheel --no-deps``) and installed into a fresh venv
with its base dependencies only: no confluent-kafka, PySpark, Azure SDKs. The venv (base
dependencies from PyPI) is cached under ``$ODIBI_CACHE`` (default ``<repo>/.cache``) per hash
of ``pyproject.toml``; the wheel itself is rebuilt and reinstalled every run. Every command runs
from that venv's console script with a clean environment (no ``PYTHONPATH``: the installed
package, not this checkout, is what runs).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

CACHE = Path(os.environ.get("ODIBI_CACHE", REPO / ".cache"))
EXTRAS_MODULES = ("confluent_kafka", "pyspark", "azure.storage.blob", "azure.eventhub")


def _pip(python: Path, *args: str, timeout: float = 1200) -> None:
    proc = subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"pip {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:12]
    home = CACHE / f"noextras-venv-{key}"
    python = home / "bin" / "python"
    wheels = tmp_path_factory.mktemp("wheel")
    _pip(Path(sys.executable), "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO))
    [wheel] = list(wheels.glob("odibi_stream-*.whl"))
    if not (home / ".complete").exists():
        # One venv per pyproject: those of earlier dependency sets are only disk (600 MB each).
        for stale in CACHE.glob("noextras-venv-*"):
            shutil.rmtree(stale, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(home)], check=True, timeout=300)
        _pip(python, "install", "-q", str(wheel))  # the base dependencies, from PyPI
        (home / ".complete").touch()
    _pip(python, "install", "-q", "--no-deps", "--force-reinstall", str(wheel))
    return home


def _env(tmp: Path) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(NO_COLOR="1", COLUMNS="200", ODIBI_RUNTIME_DIR=str(tmp / "run"))
    return env


def _cli(venv: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "odibi-stream"), *args], capture_output=True,
                          text=True, cwd=tmp, env=_env(tmp), timeout=300)


def test_no_extra_is_installed(venv: Path) -> None:
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m.split('.')[0]) and (m.count('.') == 0 or u.find_spec(m))])"
    out = subprocess.run([str(venv / "bin" / "python"), "-c", probe, *EXTRAS_MODULES],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_every_command_runs_on_a_base_install(venv: Path, tmp_path: Path) -> None:
    res = _cli(venv, tmp_path, "--version")
    assert res.returncode == 0 and "0.1.0" in res.stdout, res.stderr
    assert _cli(venv, tmp_path, "--help").returncode == 0
    res = _cli(venv, tmp_path, "init", "proj")
    assert res.returncode == 0, res.stderr
    res = _cli(venv, tmp_path, "validate", "proj")
    assert (res.returncode, res.stdout.strip()) == (0, "ok: 1 pipeline (example)"), res.stderr
    res = _cli(venv, tmp_path, "run", "proj")
    assert res.returncode == 0, res.stderr
    assert "example: 1 batch(es), 3 rows in, 3 rows out" in res.stdout
    assert _cli(venv, tmp_path, "status", "proj").returncode == 0
    assert _cli(venv, tmp_path, "checkpoint", "history", "proj", "--pipeline", "example").returncode == 0
    assert _cli(venv, tmp_path, "graph", "proj").returncode == 0
    assert _cli(venv, tmp_path, "schema").returncode == 0


def test_the_quickstart_runs_on_a_base_install(venv: Path, tmp_path: Path) -> None:
    project = tmp_path / "quickstart"
    shutil.copytree(REPO / "examples" / "quickstart", project,
                    ignore=shutil.ignore_patterns("data", "checkpoints", "__pycache__"))
    landing = project / "data" / "landing" / "orders"
    landing.mkdir(parents=True)
    for sample in sorted((project / "samples").glob("*.csv")):
        shutil.copy(sample, landing / sample.name)
        os.utime(landing / sample.name, (time.time() - 60, time.time() - 60))
    res = _cli(venv, tmp_path, "validate", str(project))
    assert res.returncode == 0, res.stderr
    res = _cli(venv, tmp_path, "run", str(project))
    assert res.returncode == 0, res.stderr
    # the samples: 62 rows, 2 of them rejected (a bad amount, a failed check) into the dead letter
    assert "orders_bronze: 1 batch(es), 62 rows in, 60 rows out, 2 rejected" in res.stdout, res.stdout
    proc = subprocess.Popen([str(venv / "bin" / "odibi-stream"), "serve", str(project), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env=_env(tmp_path))
    try:
        assert proc.stdout is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"serve exited: {proc.stderr.read() if proc.stderr else ''}"
            found = re.search(r"status: (http://\S+)", line)
            url = found.group(1).rstrip("/") if found else None
        assert url is not None
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_a_kafka_pipeline_is_refused_at_validate_with_the_extra_to_install(venv: Path, tmp_path: Path) -> None:
    assert _cli(venv, tmp_path, "init", "proj").returncode == 0
    project = tmp_path / "proj"
    (project / "odibi.yaml").write_text(
        "project: proj\ncheckpoint: {root: ./checkpoints}\nconnections:\n"
        "  local: {type: local, base_path: ./data}\n"
        "  bus: {type: kafka, options: {bootstrap.servers: 'localhost:9092'}}\n"
    )
    (project / "pipelines" / "events.yaml").write_text(
        "pipeline: events\ntrigger: {kafka: {}}\nnodes:\n  - name: events\n"
        "    read: {connection: bus, format: kafka, topic: events}\n"
        "    write: {connection: local, format: delta, path: tables/events}\n"
    )
    res = _cli(venv, tmp_path, "validate", "proj")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "events.yaml:5: node events: format kafka needs the 'kafka' extra" in res.stderr
    assert "pip install 'odibi-stream[kafka]'" in res.stderr
    assert "Traceback" not in res.stderr
    res = _cli(venv, tmp_path, "serve", "proj", "--port", "0")
    assert res.returncode == 2 and "odibi-stream[kafka]" in res.stderr
