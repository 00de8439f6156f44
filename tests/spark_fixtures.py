"""Spark test fixtures: one local SparkEngine per test process, and a real standalone cluster.

Use by importing the fixtures into a test module (``from tests.spark_fixtures import
spark_cluster``), or call :func:`shared_engine` from a module's own fixture.

A JVM holds one SparkContext, so the in-process engine is a process-wide singleton (created on
first use, stopped at interpreter exit) however many modules import the fixture. Tests that
need another master (the cluster) run ``odibi-stream`` as a subprocess.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from odibi_stream.engines.spark_session import find_jars
from odibi_stream.exceptions import ConfigError

_ENGINE: object | None = None


def require_spark() -> None:
    """Skip when pyspark or Java is absent; fail (not skip) when only the jars are missing."""
    pytest.importorskip("pyspark")
    pytest.importorskip("delta")
    if shutil.which("java") is None:
        pytest.skip("java is not installed")
    try:
        find_jars()
    except ConfigError as exc:
        pytest.fail(f"{exc} — run: {exc.hint}")


def shared_engine() -> object:
    """The process's SparkEngine on local[1] (started once, stopped at exit)."""
    global _ENGINE
    if _ENGINE is None:
        from odibi_stream.engines.spark import SparkEngine

        engine = SparkEngine({"master": "local[1]", "conf": {"spark.sql.shuffle.partitions": 1}})
        engine.spark  # noqa: B018 - start now so the first test's timeout is not spent on it
        atexit.register(engine.close)
        _ENGINE = engine
    return _ENGINE


@pytest.fixture(scope="session")
def spark_engine() -> object:
    """The shared local SparkEngine (see module docstring)."""
    require_spark()
    return shared_engine()


@dataclass(frozen=True)
class Cluster:
    """A running standalone cluster: its master URL and the worker's log (for diagnostics)."""

    master: str
    logs: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _java(main: str, args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    classpath = str(_spark_home() / "jars" / "*")
    cmd = ["java", "-Xmx512m", "-cp", classpath, main, *args]
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def _wait_for(predicate: object, deadline: float, what: str, log: Path) -> None:
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)  # polling interval, not synchronisation: the deadline bounds the wait
    raise RuntimeError(f"{what} did not come up in time; log:\n{log.read_text()[-3000:]}")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A real Spark standalone master + one worker (1 core, 1 GB) on loopback."""
    require_spark()
    logs = tmp_path_factory.mktemp("spark-cluster")
    port = _free_port()
    env = dict(os.environ)
    env.update(
        {
            "SPARK_HOME": str(_spark_home()),
            "SPARK_LOCAL_IP": "127.0.0.1",
            # pyspark has no RELEASE file: the launcher cannot guess the Scala version.
            "SPARK_SCALA_VERSION": "2.13",
            "PYSPARK_PYTHON": sys.executable,
            "SPARK_WORKER_DIR": str(logs / "work"),
        }
    )
    master_log, worker_log = logs / "master.log", logs / "worker.log"
    master = _java(
        "org.apache.spark.deploy.master.Master",
        ["--host", "127.0.0.1", "--port", str(port), "--webui-port", str(_free_port())],
        master_log,
        env,
    )
    procs = [master]
    try:
        _wait_for(lambda: _port_open(port), time.monotonic() + 60, "spark master", master_log)
        url = f"spark://127.0.0.1:{port}"
        worker_args = [url, "--host", "127.0.0.1", "--cores", "1", "--memory", "1g"]
        worker_args += ["--webui-port", str(_free_port()), "--work-dir", str(logs / "work")]
        worker = _java(
            "org.apache.spark.deploy.worker.Worker",
            worker_args,
            worker_log,
            env,
        )
        procs.append(worker)
        _wait_for(
            lambda: "Registering worker" in master_log.read_text(errors="replace"),
            time.monotonic() + 60,
            "spark worker registration",
            master_log,
        )
        yield Cluster(master=url, logs=logs)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
