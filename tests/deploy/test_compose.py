"""`docker compose up` of deploy/compose.yaml: the daemon + Kafka + Azurite, for real.

Debian's Compose v1 drives the stack with deploy/compose.local.yaml (stand-in images built
locally; the upstream images everywhere else). Proves: the file validates; `depends_on:
condition: service_healthy` brings the daemon up only after Kafka and Azurite are healthy and
the blob container exists; the daemon reaches both by service name; JSON events produced to
Kafka land in a Delta table on Azurite exactly once; `down -v` removes everything.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.deploy.deploy_helpers import IMAGE, REPO, docker, free_port, http_json, sh, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.usefixtures("docker_engine")]
TOKEN = "compose-test-token"
FILES = ["-f", str(REPO / "deploy" / "compose.yaml"), "-f", str(REPO / "deploy" / "compose.local.yaml")]
EVENTS = 300

PRODUCE = f"""
EVENTS = {EVENTS}
import json
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
admin = AdminClient({{"bootstrap.servers": "kafka:9092"}})
for f in admin.create_topics([NewTopic("events", 3, 1)]).values():
    f.result(30)
p = Producer({{"bootstrap.servers": "kafka:9092", "enable.idempotence": True}})
for i in range(EVENTS):
    p.produce("events", key=str(i), value=json.dumps({{"id": i, "name": "e" + str(i)}}))
assert p.flush(30) == 0
print("produced")
"""

READ_LAKE = """
import json, os
from deltalake import DeltaTable
opts = {"azure_storage_use_emulator": "true", "allow_http": "true",
        "account_name": "devstoreaccount1",
        "account_key": "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="}
ids = DeltaTable("az://lake/events", storage_options=opts).to_pyarrow_table(columns=["id"]).column("id").to_pylist()
print(json.dumps(sorted(ids)))
"""


def compose_cmd() -> list[str]:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose missing although prepare.sh installed packages")
    return [exe]


@pytest.fixture
def stack() -> Iterator[tuple[list[str], dict[str, str]]]:
    project = f"odibi-compose-{uuid.uuid4().hex[:8]}"
    env = {"ODIBI_API_TOKEN": TOKEN, "ODIBI_HOST_PORT": str(free_port()),
           "ODIBI_IMAGE_TAG": IMAGE.split(":")[1], "COMPOSE_PROJECT_NAME": project,
           "DOCKER_BUILDKIT": "1", "COMPOSE_DOCKER_CLI_BUILD": "1"}
    cmd = [*compose_cmd(), *FILES, "-p", project]
    try:
        yield cmd, env
    finally:
        down = sh(*cmd, "down", "-v", "--remove-orphans", "--timeout", "45", env=env, check=False, timeout=180)
        left = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout.strip()
        assert down.returncode == 0 and not left, down.stderr


def test_compose_config_is_valid() -> None:
    env = {"ODIBI_API_TOKEN": TOKEN}
    for files in (FILES[:2], FILES):
        out = sh(*compose_cmd(), *files, "config", env=env).stdout
        assert "service_healthy" in out and "service_completed_successfully" in out
    # The token is required: compose refuses to start without it.
    missing = sh(*compose_cmd(), *FILES[:2], "config", check=False,
                 env={k: v for k, v in os.environ.items() if k != "ODIBI_API_TOKEN"})
    assert missing.returncode != 0 and "ODIBI_API_TOKEN" in missing.stderr


def test_compose_up_kafka_to_delta_on_azurite(stack: tuple[list[str], dict[str, str]]) -> None:
    cmd, env = stack
    sh(*cmd, "up", "-d", "--no-build", env=env, timeout=400)
    ps = sh(*cmd, "ps", env=env).stdout
    url = f"http://127.0.0.1:{env['ODIBI_HOST_PORT']}"
    wait_until(lambda: http_json(url + "/healthz")[0] == 200, 120, "the daemon's /healthz")

    def health(service: str) -> str:
        cid = sh(*cmd, "ps", "-q", service, env=env).stdout.strip()
        return docker("inspect", "-f", "{{.State.Health.Status}}", cid).stdout.strip()

    def started(service: str) -> str:
        cid = sh(*cmd, "ps", "-q", service, env=env).stdout.strip()
        return docker("inspect", "-f", "{{.State.StartedAt}}", cid).stdout.strip()

    assert health("kafka") == "healthy" and health("azurite") == "healthy", ps
    init = sh(*cmd, "ps", "-q", "azurite-init", env=env).stdout.strip()
    assert docker("inspect", "-f", "{{.State.ExitCode}}", init).stdout.strip() == "0"
    assert started("odibi") > docker("inspect", "-f", "{{.State.FinishedAt}}", init).stdout.strip()

    produced = sh(*cmd, "exec", "-T", "odibi", "python", "-", input=PRODUCE, env=env, timeout=120)
    assert "produced" in produced.stdout

    seen: list[str] = []

    def lake_ids() -> list[Any] | None:
        """The table's ids once it holds every event (a read racing a commit is retried)."""
        out = sh(*cmd, "exec", "-T", "odibi", "python", "-", input=READ_LAKE, env=env, check=False, timeout=60)
        ids = json.loads(out.stdout) if out.returncode == 0 else []
        seen[:] = [f"{len(ids)} ids" if out.returncode == 0 else out.stderr.strip()[-400:]]
        return ids if len(ids) >= EVENTS else None

    try:
        ids = wait_until(lake_ids, 180, f"{EVENTS} events in az://lake/events", interval=2)
    except AssertionError as exc:
        status = http_json(url + "/api/pipelines/events_to_lake", TOKEN)
        logs = sh(*cmd, "logs", "--tail", "60", "odibi", env=env, check=False)
        raise AssertionError(
            f"{exc}\nlast lake read: {seen}\npipeline: {status}\n"
            f"odibi logs:\n{logs.stdout[-6000:]}{logs.stderr[-3000:]}"
        ) from None
    assert ids == list(range(EVENTS))  # all of them, each once
    code, body = http_json(url + "/api/pipelines/events_to_lake", TOKEN)
    assert code == 200 and body["state"] in ("idle", "running") and not body["last_error"], body
    assert http_json(url + "/api/pipelines/events_to_lake")[0] == 401  # the token is enforced
    wait_until(lambda: health("odibi") == "healthy", 60, "the odibi container's HEALTHCHECK")
