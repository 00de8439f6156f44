"""The container image, run for real (testcontainers on the local Docker engine).

Proves: non-root user, tini as PID 1, OCI labels, HEALTHCHECK turning healthy; the quickstart
served from a read-only root filesystem with the project mounted read-only and state on a
volume (`/healthz` 200, a batch committed); `docker stop` in the middle of a batch exits 0 and
every record lands exactly once (the batch is committed in the drain or replayed on restart);
a state folder the user cannot write is a clear configuration error (exit 2), not a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_helpers import (
    IMAGE,
    SPARK_IMAGE,
    delta_ids,
    docker,
    http_json,
    land_orders,
    pipeline_state,
    prepare,
    record_fact,
    slow_project,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600), pytest.mark.usefixtures("docker_engine")]
TOKEN = "image-test-token"


def container(project: Path, state: Path) -> Any:
    """The image as users run it: read-only root, project read-only, state on a volume."""
    from testcontainers.core.container import DockerContainer

    return (DockerContainer(IMAGE)
            .with_env("ODIBI_API_TOKEN", TOKEN)
            .with_volume_mapping(str(project), "/project", "ro")
            .with_volume_mapping(str(state), "/var/lib/odibi", "rw")
            .with_tmpfs_mount("/tmp", "size=64m")
            .with_kwargs(read_only=True))


def base_url(c: Any) -> str:
    """The API on the container's bridge address (reachable from this host, nothing published)."""
    wrapped = c.get_wrapped_container()
    wrapped.reload()
    return f"http://{wrapped.attrs['NetworkSettings']['IPAddress']}:8765"


def logs(c: Any) -> str:
    out, err = c.get_logs()
    return (out + err).decode(errors="replace")


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, 10001, 10001)  # the image's user; nothing else is writable for it
    os.chmod(tmp_path, 0o755)
    yield state


def test_image_metadata() -> None:
    inspect = docker("image", "inspect", IMAGE, "--format",
                     "{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .Config.Healthcheck.Test}}|"
                     "{{index .Config.Labels \"org.opencontainers.image.version\"}}|{{.Size}}").stdout.strip()
    user, entrypoint, health, label_version, size = inspect.split("|")
    assert user == "10001:10001"
    assert entrypoint.startswith('["/usr/bin/tini","--","odibi-stream"')
    assert "healthz" in health.replace("ODIBI_HEALTH_URL", "healthz")
    assert label_version == IMAGE.split(":")[1]
    # No layer holds build leftovers: the venv arrives in one COPY from the build stage.
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", IMAGE).stdout.splitlines()
    assert not [line for line in history if "pip install" in line or "/wheels" in line]
    record_fact("image", f"image {IMAGE}: {int(size) / 1e6:.0f} MB (uncompressed)")


def test_unwritable_state_is_a_config_error_not_a_traceback(tmp_path: Path) -> None:
    project = slow_project(tmp_path / "p")
    # No --env container: the quickstart's ./data and ./checkpoints are inside the read-only /project.
    proc = docker("run", "--rm", "--read-only", "-e", f"ODIBI_API_TOKEN={TOKEN}",
                  "-v", f"{project}:/project:ro", IMAGE, "serve", "/project", check=False, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "/project/odibi.yaml:5: checkpoint root '/project/checkpoints' is not writable by uid 10001" in proc.stderr
    assert "hint:" in proc.stderr


def test_serve_stop_mid_batch_and_restart_exactly_once(tmp_path: Path, state_dir: Path) -> None:
    project = slow_project(tmp_path / "p", delay=1.5)
    landing = state_dir / "data" / "landing" / "orders"
    first = container(project, state_dir)
    try:
        first.start()
        url = base_url(first)
        wait_until(lambda: http_json(url + "/healthz")[0] == 200, 60, "/healthz")
        wrapped = first.get_wrapped_container()
        assert wrapped.attrs["HostConfig"]["ReadonlyRootfs"] is True
        top = docker("top", wrapped.id, "-o", "pid,user,args").stdout
        assert "tini" in top and "odibi-stream" in top

        ids = land_orders(landing, 0, 1)
        wait_until(lambda: pipeline_state(url, TOKEN)["last_committed"] == 0, 60, "batch 0 committed")
        wait_until(lambda: docker("inspect", "-f", "{{.State.Health.Status}}", wrapped.id).stdout.strip()
                   == "healthy", 60, "HEALTHCHECK healthy")

        ids += land_orders(landing, 1, 6)
        wait_until(lambda: pipeline_state(url, TOKEN)["state"] == "running", 30, "a batch in flight")
        docker("stop", "-t", "45", wrapped.id, timeout=90)  # SIGTERM mid-batch
        wrapped.reload()
        assert wrapped.attrs["State"]["ExitCode"] == 0, logs(first)
        assert "daemon stopped: clean=True" in logs(first)
    finally:
        first.stop()

    second = container(project, state_dir)
    try:
        second.start()
        url = base_url(second)
        wait_until(lambda: pipeline_state(url, TOKEN)["last_committed"] == 6, 90,
                   "every landed file committed after the restart")
    finally:
        second.stop()
    table = state_dir / "data" / "lake" / "bronze" / "orders"
    assert delta_ids(table) == sorted(ids)  # every record once: none lost, none twice


def test_spark_image_runs_the_quickstart_on_spark(tmp_path: Path, state_dir: Path) -> None:
    prepare("spark")
    project = slow_project(tmp_path / "p", delay=0)
    text = (project / "odibi.yaml").read_text().replace("engine: pandas", "engine: spark")
    (project / "odibi.yaml").write_text(text)
    ids = land_orders(state_dir / "data" / "landing" / "orders", 0, 2)
    os.chown(state_dir / "data", 10001, 10001)  # landed by root here; the daemon writes data/lake
    # Spark's native codecs (snappy, zstd) load from java.io.tmpdir: that tmpfs must allow exec.
    proc = docker("run", "--rm", "--read-only", "--tmpfs", "/tmp:rw,exec", "-v", f"{project}:/project:ro",
                  "-v", f"{state_dir}:/var/lib/odibi", SPARK_IMAGE, "run", "/project", "--env", "container",
                  timeout=300, check=False)
    assert proc.returncode == 0, "\n".join(
        line for line in (proc.stdout + proc.stderr).splitlines() if not line.lstrip().startswith("at "))[-6000:]
    assert delta_ids(state_dir / "data" / "lake" / "bronze" / "orders") == sorted(ids)
    size = docker("image", "inspect", "-f", "{{.Size}}", SPARK_IMAGE).stdout.strip()
    record_fact("image-spark", f"image {SPARK_IMAGE}: {int(size) / 1e6:.0f} MB (uncompressed)")
