"""Fixtures of the deployment tests: the machine check, the prepared engine, cleanup, timings.

Every test here runs real deployment machinery (Docker engine, systemd, Kubernetes), prepared
by ``scripts/deploy/prepare.sh`` (``make test`` starts it in the background first). When the
machine cannot run it, the tests skip with the reason printed; ``ODIBI_SKIP_DEPLOY=1`` skips
them on purpose (quick local runs); ``ODIBI_REQUIRE_DEPLOY=1`` (set by ``make test``) turns
any other skip into a failure, so CI never passes without having deployed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.deploy_helpers import (
    CACHE,
    LOGS,
    SCRIPTS,
    docker,
    prepare,
    record_time,
    skip_or_fail,
)

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # Ryuk's image cannot be pulled here
_SESSION_START = time.time()
_OUTCOME = pytest.StashKey[str]()


def machine_problem() -> str | None:
    """Why this machine cannot run the deployment tests, or None."""
    if not sys.platform.startswith("linux"):
        return f"needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "needs root (installs packages, runs dockerd, a kubelet and iptables)"
    if shutil.which("apt-get") is None and shutil.which("dockerd") is None:
        return "needs Debian's apt-get (or dockerd, containerd, etcd installed)"
    if not Path("/sys/fs/cgroup").is_dir():
        return "needs cgroups at /sys/fs/cgroup"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The Kubernetes test last: it waits for the (background) Kubernetes build the longest."""
    items.sort(key=lambda item: "test_kubernetes.py" in item.nodeid)


@pytest.fixture(scope="session", autouse=True)
def _deploy_gate() -> None:
    if os.environ.get("ODIBI_SKIP_DEPLOY") == "1":
        print("\nSKIP deployment tests: ODIBI_SKIP_DEPLOY=1", file=sys.stderr)
        pytest.skip("ODIBI_SKIP_DEPLOY=1 (deployment tests skipped on purpose; make test runs them)")
    problem = machine_problem()
    if problem:
        skip_or_fail(problem)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[None]:
    """Packages, a running Docker engine, base images and the project's images."""
    prepare("packages", "docker", "base", "images")
    yield
    # Stops the engine only if our scripts started it (its pid file); images stay cached.
    subprocess.run(["bash", str(SCRIPTS / "dockerd.sh"), "stop"], capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    """helm built from the Go module proxy (prepare.sh helm)."""
    prepare("helm")
    return CACHE / "bin" / "helm"


@pytest.fixture
def container_names(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Names for test containers; every one is removed afterwards, pass or fail."""
    names: list[str] = []
    yield names
    for name in names:
        docker("rm", "-f", name, check=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[_OUTCOME] = report.outcome  # type: ignore[attr-defined]
    return report


@pytest.fixture(autouse=True)
def _wall_time(request: pytest.FixtureRequest) -> Iterator[None]:
    start = time.monotonic()
    yield
    if request.node.get_closest_marker("slow"):
        outcome = request.node.stash.get(_OUTCOME, "error")
        record_time(request.node.name, time.monotonic() - start, outcome)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print why deployment tests were skipped, this session's timings and measured facts."""
    reasons = sorted({str(r.longrepr[2]) for r in terminalreporter.stats.get("skipped", [])
                      if "tests/deploy/" in r.nodeid and isinstance(r.longrepr, tuple)})
    if reasons:
        terminalreporter.section("deployment tests SKIPPED")
        for reason in reasons:
            terminalreporter.write_line(reason)
    times = LOGS / "times.log"
    if not times.exists():
        return
    # From the background preparation `make test` started (its pid file), else this session.
    started = CACHE / "run" / "prepare-background.pid"
    origin = min(_SESSION_START, started.stat().st_mtime) if started.exists() else _SESSION_START
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(origin - 5))
    lines = [line.strip() for line in times.read_text().splitlines() if line[:20] >= since]
    if not lines:
        return
    terminalreporter.section("deployment: wall times (logs in .cache/deploy/logs)")
    for line in lines:
        terminalreporter.write_line(line)
    for fact in sorted((LOGS / "facts").glob("*.txt")):
        if fact.stat().st_mtime >= origin - 5:
            terminalreporter.write_line(fact.read_text().strip())
