"""TLS (``server.tls``) and the probe listener (``server.probe_port``), served for real."""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from odibi_stream.config.project_models import ServerConfig
from odibi_stream.exceptions import ConfigError
from odibi_stream.server.app import start_server
from tests.unit.server.certs import self_signed
from tests.unit.server.fake_control import FakeDaemon
from tests.unit.server.http_raw import raw, request

TOKEN = "probe-token-7f1"


@pytest.fixture
def daemon() -> FakeDaemon:
    return FakeDaemon(["orders"])


@pytest.fixture(autouse=True)
def no_error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG, logger="odibi_stream")
    yield
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or "Traceback" in r.getMessage()]
    assert bad == [], [r.getMessage()[:300] for r in bad]


@pytest.fixture
def certs(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path / "tls")


def client_context(cert: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False  # the cert names 127.0.0.1 as an IP SAN; http.client connects by IP
    return ctx


# ------------------------------------------------------------------ TLS
def test_tls_serves_https_with_a_self_signed_cert(daemon: FakeDaemon, certs: tuple[Path, Path], tmp_path: Path) -> None:
    cert, _key = certs
    config = ServerConfig(tls={"cert": "tls/cert.pem", "key": "tls/key.pem"})
    with start_server(daemon, "127.0.0.1", 0, None, config=config, base_dir=tmp_path) as handle:
        assert handle.url.startswith("https://127.0.0.1:")
        tls = client_context(cert)
        status, _, body = request(handle.port, "GET", "/api/pipelines", tls=tls)
        assert status == 200 and orjson.loads(body)["pipelines"][0]["name"] == "orders"
        origin = f"https://127.0.0.1:{handle.port}"
        headers = {"X-Odibi-Request": "1", "Origin": origin}
        assert request(handle.port, "POST", "/api/pipelines/orders/pause", headers=headers, tls=tls)[0] == 200
        http_origin = {"X-Odibi-Request": "1", "Origin": f"http://127.0.0.1:{handle.port}"}
        assert request(handle.port, "POST", "/api/pipelines/orders/resume", headers=http_origin, tls=tls)[0] == 403
        # plain HTTP on the TLS port is dropped (no answer, no traceback) and HTTPS goes on
        assert b"200" not in raw(handle.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", timeout=5)
        assert request(handle.port, "GET", "/healthz", tls=tls)[0] == 200
        # a client that never finishes its handshake holds no slot forever
        stats = handle.stats()["api"]
        assert stats["open"] <= 1
    assert daemon.calls == [("pause", "orders")]


def test_a_tls_handshake_that_stalls_is_cut(daemon: FakeDaemon, certs: tuple[Path, Path], tmp_path: Path) -> None:
    config = ServerConfig(tls={"cert": str(certs[0]), "key": str(certs[1])}, limits={"request_timeout_seconds": 0.5})
    with start_server(daemon, "127.0.0.1", 0, None, config=config) as handle, \
            socket.create_connection(("127.0.0.1", handle.port)) as sock:
        sock.sendall(b"\x16\x03\x01")  # the first bytes of a ClientHello, then silence
        sock.settimeout(5)
        assert sock.recv(100) == b""


def test_unusable_tls_files_are_config_errors(daemon: FakeDaemon, certs: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="certificate file not found"):
        start_server(daemon, "127.0.0.1", 0, None, config=ServerConfig(tls={"cert": "nope.pem", "key": "k.pem"}),
                     base_dir=tmp_path)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nS3cr3tMaterial\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="cannot load") as info:
        start_server(daemon, "127.0.0.1", 0, None,
                     config=ServerConfig(tls={"cert": str(certs[0]), "key": str(garbage)}))
    assert "S3cr3t" not in str(info.value)


# ------------------------------------------------------------------ probe listener
def test_the_probe_port_serves_only_healthz_and_readyz_without_auth(daemon: FakeDaemon) -> None:
    with start_server(daemon, "127.0.0.1", 0, TOKEN, config=ServerConfig(probe_port=0)) as handle:
        probe = handle.probe_port
        assert probe is not None and probe != handle.port
        assert handle.probe_url == f"http://127.0.0.1:{probe}/"
        status, _, body = request(probe, "GET", "/healthz")
        assert (status, orjson.loads(body)) == (200, {"status": "ok"})
        status, _, body = request(probe, "GET", "/readyz")
        assert (status, orjson.loads(body)) == (200, {"status": "ready", "reason": None})
        for path in ("/", "/metrics", "/api/pipelines", "/api/pipelines/orders"):
            assert request(probe, "GET", path)[0] == 404, path
        headers = {"X-Odibi-Request": "1"}
        assert request(probe, "POST", "/api/pipelines/orders/pause", headers=headers)[0] == 404
        assert request(probe, "POST", "/readyz", headers=headers)[0] == 405
        assert request(probe, "GET", "/healthz", headers={"Host": "rebind.attacker.example"})[0] == 421
        # the API port still wants the token
        assert request(handle.port, "GET", "/readyz")[0] == 401
    assert daemon.calls == []


def test_probe_readyz_carries_no_pipeline_data(daemon: FakeDaemon) -> None:
    daemon.readiness = lambda: (True, {"pipelines": {"orders": {"state": "failed", "lease": True}}})  # type: ignore[method-assign]
    with start_server(daemon, "127.0.0.1", 0, TOKEN, config=ServerConfig(probe_port=0)) as handle:
        status, _, body = request(handle.probe_port or 0, "GET", "/readyz")
        assert status == 503
        assert orjson.loads(body) == {"status": "not_ready", "reason": "1 pipeline(s) failed"}
        assert b"orders" not in body


def test_a_busy_probe_port_is_a_config_error_and_frees_the_api_port(daemon: FakeDaemon) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with pytest.raises(ConfigError, match="cannot listen"):
            start_server(daemon, "127.0.0.1", 0, None, config=ServerConfig(probe_port=busy))


def test_probe_port_equal_to_port_is_refused_by_the_model() -> None:
    with pytest.raises(ValueError, match="must differ"):
        ServerConfig(port=9000, probe_port=9000)
