"""A real ``serve`` with ``server.tls``, ``server.probe_port`` and a token; readiness fails on a
failed pipeline (issue 17: optional TLS, probe listener, ``readiness_fail_on``)."""

from __future__ import annotations

import http.client
import socket
import ssl
from pathlib import Path

import orjson
import pytest

from tests.integration.server.daemon_launch import ServeProc
from tests.unit.server.certs import self_signed
from tests.unit.service.runtime_projects import ProjectBuilder, wait_for

pytestmark = pytest.mark.slow

TOKEN = "serve-tls-token-93c1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def https(port: int, path: str, tls: ssl.SSLContext, token: str | None = None) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=tls)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        resp = conn.getresponse()
        return resp.status, orjson.loads(resp.read())
    finally:
        conn.close()


def test_tls_daemon_with_probe_port_and_failed_readiness(tmp_path: Path) -> None:
    proj = ProjectBuilder(tmp_path / "proj")
    proj.pipeline("ok")
    proj.pipeline("bad", function="boom", attempts=1)
    cert, _key = self_signed(proj.root / "tls")
    probe_port = free_port()
    config = (proj.root / "odibi.yaml").read_text().replace(
        "server: {port: 0}",
        f"server: {{port: 0, probe_port: {probe_port}, tls: {{cert: tls/cert.pem, key: tls/key.pem}}}}",
    )
    (proj.root / "odibi.yaml").write_text(config)
    tls = ssl.create_default_context(cafile=str(cert))  # the cert carries 127.0.0.1 as an IP SAN

    daemon = ServeProc(proj.root, tmp_path / "daemon.log", env={"ODIBI_API_TOKEN": TOKEN})
    try:
        assert daemon.url.startswith("https://127.0.0.1:")
        wait_for(lambda: https(probe_port, "/readyz", tls)[0] == 200, 30, "ready on the probe port")
        assert https(probe_port, "/readyz", tls)[1] == {"status": "ready", "reason": None}
        assert https(probe_port, "/healthz", tls) == (200, {"status": "ok"})
        assert https(probe_port, "/api/pipelines", tls)[0] == 404
        assert https(daemon.port, "/api/pipelines", tls)[0] == 401
        assert https(daemon.port, "/api/pipelines", tls, TOKEN)[0] == 200

        proj.drop("bad", "a.csv", [1])
        wait_for(lambda: https(probe_port, "/readyz", tls)[0] == 503, 30, "not ready once a pipeline failed")
        assert https(probe_port, "/readyz", tls)[1] == {"status": "not_ready", "reason": "1 pipeline(s) failed"}
        status, body = https(daemon.port, "/readyz", tls, TOKEN)
        assert status == 503 and body["reason"] == "1 pipeline(s) failed"
        assert body["detail"]["pipelines"]["bad"]["state"] == "failed"  # type: ignore[index]
    finally:
        code = daemon.stop()
    assert code == 0
    assert "Traceback" not in daemon.stderr()
