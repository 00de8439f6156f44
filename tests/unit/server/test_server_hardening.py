"""Control-plane hardening (issue 17), over real HTTP on loopback: DNS rebinding, CSRF,
body limits, slow clients, connection cap, trigger floods, readiness policy."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from odibi_stream.config.project_models import ServerConfig
from odibi_stream.server.app import ServerHandle, start_server
from tests.unit.server.fake_control import FakeDaemon
from tests.unit.server.http_raw import post, raw, read_all, request, status_of

PAUSE = "/api/pipelines/orders/pause"


@pytest.fixture
def daemon() -> FakeDaemon:
    return FakeDaemon(["orders", "clicks"])


def serve(daemon: FakeDaemon, token: str | None = None, **config: Any) -> ServerHandle:
    return start_server(daemon, "127.0.0.1", 0, token, config=ServerConfig(**config))


@pytest.fixture
def server(daemon: FakeDaemon) -> Iterator[ServerHandle]:
    with serve(daemon) as handle:
        yield handle


@pytest.fixture(autouse=True)
def no_error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG, logger="odibi_stream")
    yield
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or "Traceback" in r.getMessage()]
    assert bad == [], [r.getMessage()[:300] for r in bad]


# ------------------------------------------------------------------ DNS rebinding
@pytest.mark.parametrize("path", ["/", "/healthz", "/readyz", "/metrics", "/api/pipelines", "/api/pipelines/orders"])
def test_a_foreign_host_gets_421_on_every_route(server: ServerHandle, path: str) -> None:
    status, _, body = request(server.port, "GET", path, headers={"Host": f"rebind.attacker.example:{server.port}"})
    assert status == 421
    assert b"attacker" not in body and b"orders" not in body


def test_a_foreign_host_cannot_act(server: ServerHandle, daemon: FakeDaemon) -> None:
    status, _, _ = post(server.port, PAUSE, headers={"Host": "rebind.attacker.example"})
    assert status == 421
    assert daemon.calls == [] and daemon.states["orders"] == "idle"


def test_loopback_names_and_configured_hosts_are_served(daemon: FakeDaemon) -> None:
    with serve(daemon, allowed_hosts=["odibi.internal"]) as handle:
        for host in (f"127.0.0.1:{handle.port}", f"localhost:{handle.port}", "odibi.internal"):
            assert request(handle.port, "GET", "/api/pipelines", headers={"Host": host})[0] == 200
        assert request(handle.port, "GET", "/", headers={"Host": "other.internal"})[0] == 421


# ------------------------------------------------------------------ CSRF
@pytest.mark.parametrize(
    "headers",
    [
        {},  # an HTML form or a no-cors fetch: no way to add a header
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"X-Odibi-Request": "1", "Origin": "http://127.0.0.1:1"},
        {"X-Odibi-Request": "1", "Origin": "null"},
        {"Content-Type": "application/json", "Origin": "http://evil.example"},
        {"X-Odibi-Request": "1", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_posts_without_same_origin_proof_are_403(server: ServerHandle, daemon: FakeDaemon, headers: dict[str, str]) -> None:
    for action in ("pause", "trigger", "resume"):
        status, _, body = request(server.port, "POST", f"/api/pipelines/orders/{action}", headers=headers, body=b"x")
        assert status == 403, (action, headers)
        assert orjson.loads(body)["error"] == "cross-site request refused"
    assert daemon.calls == [] and daemon.states["orders"] == "idle"


def test_same_origin_posts_pass(server: ServerHandle, daemon: FakeDaemon) -> None:
    origin = f"http://127.0.0.1:{server.port}"
    assert post(server.port, PAUSE, headers={"Origin": origin})[0] == 200
    json_post = {"Content-Type": "application/json", "Origin": origin}
    assert request(server.port, "POST", "/api/pipelines/orders/resume", headers=json_post, body=b"{}")[0] == 200
    assert daemon.calls == [("pause", "orders"), ("resume", "orders")]


# ------------------------------------------------------------------ bodies
def test_a_body_over_the_limit_is_413_and_the_action_does_not_run(server: ServerHandle, daemon: FakeDaemon) -> None:
    status, headers, body = post(server.port, PAUSE, body=b"x" * 70_000)
    assert status == 413 and headers["connection"] == "close"
    assert orjson.loads(body) == {"error": "request body too large"}
    assert daemon.calls == []
    head = f"POST {PAUSE} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Odibi-Request: 1\r\nExpect: 100-continue\r\n"
    answer = raw(server.port, (head + "Content-Length: 10000000\r\n\r\n").encode())
    assert status_of(answer) == 413 and b"100 Continue" not in answer
    assert daemon.calls == []
    assert server.stats()["refused"]["body"] == 2


def test_a_chunked_body_over_the_limit_is_413(server: ServerHandle, daemon: FakeDaemon) -> None:
    chunk = b"x" * 4096
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    head = f"POST {PAUSE} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Odibi-Request: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert status_of(raw(server.port, head.encode() + chunks)) == 413
    assert daemon.calls == []


def test_a_small_chunked_body_is_drained_and_the_connection_reused(server: ServerHandle, daemon: FakeDaemon) -> None:
    head = f"POST {PAUSE} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Odibi-Request: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
    second = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    answer = raw(server.port, head.encode() + b"5\r\nhello\r\n0\r\n\r\n" + second)
    assert answer.count(b"HTTP/1.1 200 OK") == 2, answer[:400]
    assert daemon.calls == [("pause", "orders")]


# ------------------------------------------------------------------ no reflection, malformed input
def test_404_bodies_never_echo_the_requested_name(server: ServerHandle) -> None:
    probe = "CANDIDATE-S3cr3t-guess"
    for status, _, body in (
        request(server.port, "GET", f"/api/pipelines/{probe}"),
        post(server.port, f"/api/pipelines/{probe}/trigger"),
        post(server.port, f"/api/pipelines/{probe}/pause"),
        request(server.port, "GET", f"/{probe}"),
    ):
        assert status == 404
        assert b"CANDIDATE" not in body and b"S3cr3t" not in body


def test_malformed_and_oversized_heads_get_a_short_answer(server: ServerHandle) -> None:
    assert status_of(raw(server.port, b"NOT HTTP AT ALL\r\n\r\n")) == 400
    huge = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    assert status_of(raw(server.port, huge)) == 431
    assert request(server.port, "GET", "/healthz")[0] == 200


def test_keep_alive_serves_several_requests_on_one_connection(server: ServerHandle) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        for _ in range(3):
            conn.request("GET", "/healthz")
            assert conn.getresponse().read() == b'{"status":"ok"}'
    finally:
        conn.close()
    assert server.stats()["api"]["evicted"] == 0


# ------------------------------------------------------------------ slow and many clients
def test_a_slow_client_is_cut_after_the_request_timeout(daemon: FakeDaemon) -> None:
    with serve(daemon, limits={"request_timeout_seconds": 0.5}) as handle, \
            socket.create_connection(("127.0.0.1", handle.port)) as sock:
        t0 = time.monotonic()
        sock.sendall(b"GET /api/pipelines HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finishes
        for _ in range(3):  # trickling bytes does not extend the deadline
            time.sleep(0.2)
            sock.sendall(b"X-A: b\r\n")
        assert read_all(sock, 5.0) == b""
        assert time.monotonic() - t0 < 2.5


def test_the_connection_cap_evicts_idle_clients_and_healthz_still_answers(daemon: FakeDaemon) -> None:
    with serve(daemon, limits={"max_connections": 8}) as handle:
        stalled = [socket.create_connection(("127.0.0.1", handle.port)) for _ in range(40)]
        try:
            for sock in stalled:
                sock.sendall(b"GET /api/pipelines HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            for _ in range(20):
                assert request(handle.port, "GET", "/healthz", timeout=5)[0] == 200
            stats = handle.stats()["api"]
            assert stats["open"] <= 8 and stats["cap"] == 8
            assert stats["evicted"] >= 40 - 8
        finally:
            for sock in stalled:
                sock.close()


def test_healthz_answers_while_every_worker_is_stuck(daemon: FakeDaemon) -> None:
    release = threading.Event()
    original = daemon.pipelines

    def stuck() -> list[dict[str, Any]]:
        release.wait(30)
        return original()

    daemon.pipelines = stuck  # type: ignore[method-assign]
    with serve(daemon, limits={"workers": 1}) as handle:
        results: list[int] = []
        blocked = threading.Thread(target=lambda: results.append(request(handle.port, "GET", "/api/pipelines")[0]))
        blocked.start()
        try:
            t0 = time.monotonic()
            assert request(handle.port, "GET", "/healthz", timeout=5)[0] == 200
            assert time.monotonic() - t0 < 1.0
        finally:
            release.set()
            blocked.join(10)
        assert results == [200]


# ------------------------------------------------------------------ trigger floods
def test_a_trigger_flood_is_coalesced(server: ServerHandle, daemon: FakeDaemon) -> None:
    answers = [orjson.loads(post(server.port, "/api/pipelines/orders/trigger")[2]) for _ in range(300)]
    assert all(a["status"] == "accepted" for a in answers)
    assert sum(1 for a in answers if a["coalesced"]) >= 290
    assert 3 <= daemon.calls.count(("trigger", "orders")) <= 5  # burst of 3 (+ refill while posting)
    deadline = time.monotonic() + 5
    while daemon.calls.count(("trigger", "orders")) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert daemon.calls.count(("trigger", "orders")) >= 4, "the coalesced requests got their run"


# ------------------------------------------------------------------ readiness policy
def test_readyz_is_503_while_a_pipeline_failed(server: ServerHandle, daemon: FakeDaemon) -> None:
    def readiness() -> tuple[bool, dict[str, Any]]:
        return True, {"pipelines": {"orders": {"state": "failed", "lease": True, "degraded": False}}}

    daemon.readiness = readiness  # type: ignore[method-assign]
    status, _, body = request(server.port, "GET", "/readyz")
    assert status == 503
    assert orjson.loads(body)["reason"] == "1 pipeline(s) failed"


def test_readiness_fail_on_is_configurable(daemon: FakeDaemon) -> None:
    daemon.readiness = lambda: (True, {"pipelines": {"o": {"state": "failed", "lease": True}}})  # type: ignore[method-assign]
    with serve(daemon, readiness_fail_on=[]) as handle:
        assert request(handle.port, "GET", "/readyz")[0] == 200


# ------------------------------------------------------------------ the server's own metrics
def test_metrics_expose_refusals_and_connections(server: ServerHandle) -> None:
    request(server.port, "GET", "/", headers={"Host": "rebind.attacker.example"})
    request(server.port, "POST", PAUSE, headers={"Content-Type": "text/plain"})
    status, _, body = request(server.port, "GET", "/metrics")
    assert status == 200
    assert b'odibi_http_refused_requests_total{reason="host"} 1.0' in body
    assert b'odibi_http_refused_requests_total{reason="csrf"} 1.0' in body
    assert b'odibi_http_connection_cap{listener="api"} 128.0' in body
    assert b"odibi_http_open_connections" in body and b"odibi_http_evicted_connections_total" in body


def test_a_wedged_daemon_cannot_lock_healthz_out(daemon: FakeDaemon) -> None:
    release = threading.Event()
    original = daemon.pipelines

    def stuck() -> list[dict[str, Any]]:
        release.wait(30)
        return original()

    daemon.pipelines = stuck  # type: ignore[method-assign]
    with serve(daemon, limits={"max_connections": 8, "workers": 1}) as handle:
        results: list[int | str] = []

        def caller() -> None:
            try:
                results.append(request(handle.port, "GET", "/api/pipelines")[0])
            except OSError:
                results.append("dropped")  # evicted while idle to admit another connection

        callers = [threading.Thread(target=caller) for _ in range(12)]
        for thread in callers:
            thread.start()
        try:
            # 4 requests (half the cap) may wait for the stuck worker; the rest are told to retry
            deadline = time.monotonic() + 10
            while len(results) < 8 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(results) == 8 and 200 not in results, results
            assert results.count(503) >= 1
            for _ in range(5):
                assert request(handle.port, "GET", "/healthz", timeout=5)[0] == 200
        finally:
            release.set()
            for thread in callers:
                thread.join(10)
        assert results.count(200) == 4, results
        assert set(results) <= {200, 503, "dropped"}
