"""The HTTP control plane, served for real on a loopback port and called over HTTP."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from typing import Any

import orjson
import pytest

from odibi_stream.core.redact import clear_secrets, register_secret
from odibi_stream.exceptions import ConfigError
from odibi_stream.server.app import ServerHandle, is_loopback, start_server
from odibi_stream.server.page import status_page
from odibi_stream.service.control import ControlPlane
from tests.unit.observability.test_metrics import make_result
from tests.unit.server.fake_control import XSS_NAME, FakeDaemon


def call(
    method: str, url: str, token: str | None = None, header: str | None = None
) -> tuple[int, Message, bytes]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    req.add_header("X-Odibi-Request", "1")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if header is not None:
        req.add_header("Authorization", header)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


@pytest.fixture
def daemon() -> FakeDaemon:
    return FakeDaemon(["orders", "clicks", XSS_NAME])


@pytest.fixture
def server(daemon: FakeDaemon) -> Iterator[ServerHandle]:
    handle = start_server(daemon, "127.0.0.1", 0, None)
    yield handle
    handle.stop()


@pytest.fixture
def secured(daemon: FakeDaemon) -> Iterator[ServerHandle]:
    handle = start_server(daemon, "127.0.0.1", 0, "s3cr3t-token")
    yield handle
    handle.stop()


def test_fake_daemon_satisfies_the_protocol(daemon: FakeDaemon) -> None:
    assert isinstance(daemon, ControlPlane)


def test_healthz(server: ServerHandle) -> None:
    status, headers, body = call("GET", server.url + "healthz")
    assert (status, orjson.loads(body)) == (200, {"status": "ok"})
    assert headers["Content-Type"] == "application/json"


def test_readyz_ready_and_not_ready(server: ServerHandle, daemon: FakeDaemon) -> None:
    status, _, body = call("GET", server.url + "readyz")
    assert status == 200 and orjson.loads(body)["status"] == "ready"
    daemon.ready = False
    status, _, body = call("GET", server.url + "readyz")
    assert status == 503
    assert orjson.loads(body)["detail"]["orders"]["lease"] == "held"


def test_metrics_route_serves_recorded_batches(server: ServerHandle, daemon: FakeDaemon) -> None:
    daemon.metrics.record_batch("orders", make_result(batch=1), "committed")
    status, headers, body = call("GET", server.url + "metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    assert b'odibi_batches_total{pipeline="orders",status="committed"} 1.0' in body
    assert b'odibi_rows_in_total{node="raw",pipeline="orders"} 10.0' in body


def test_list_and_get_pipelines(server: ServerHandle) -> None:
    status, _, body = call("GET", server.url + "api/pipelines")
    listed = orjson.loads(body)["pipelines"]
    assert status == 200
    assert [p["name"] for p in listed] == sorted(["orders", "clicks", XSS_NAME])
    assert listed[0]["watermarks"]["src"] == "2024-05-01T12:00:00+00:00"
    status, _, body = call("GET", server.url + "api/pipelines/orders")
    assert status == 200 and orjson.loads(body)["edges"] == [["src", "out"]]


def test_unknown_pipeline_and_path_are_404(server: ServerHandle) -> None:
    assert call("GET", server.url + "api/pipelines/nope")[0] == 404
    assert call("POST", server.url + "api/pipelines/nope/pause")[0] == 404
    assert call("POST", server.url + "api/pipelines/orders/explode")[0] == 404
    assert call("GET", server.url + "nothing-here")[0] == 404


def test_wrong_method_is_405_with_allow(server: ServerHandle) -> None:
    status, headers, _ = call("GET", server.url + "api/pipelines/orders/pause")
    assert status == 405 and headers["Allow"] == "POST"
    status, headers, _ = call("POST", server.url + "healthz")
    assert status == 405 and headers["Allow"] == "GET"
    assert call("DELETE", server.url + "api/pipelines/orders")[0] == 405


def test_actions_reach_the_daemon(server: ServerHandle, daemon: FakeDaemon) -> None:
    status, _, body = call("POST", server.url + "api/pipelines/orders/trigger")
    assert status == 202 and orjson.loads(body)["status"] == "accepted"
    status, _, body = call("POST", server.url + "api/pipelines/orders/pause")
    assert status == 200 and orjson.loads(body)["state"] == "paused"
    status, _, body = call("POST", server.url + "api/pipelines/orders/resume")
    assert status == 200 and orjson.loads(body)["state"] == "idle"
    assert daemon.calls == [("trigger", "orders"), ("pause", "orders"), ("resume", "orders")]


def test_retry_and_skip_answer_409_with_a_hint_when_the_state_forbids(
    server: ServerHandle, daemon: FakeDaemon
) -> None:
    status, _, body = call("POST", server.url + "api/pipelines/orders/retry")
    assert status == 409 and orjson.loads(body) == {"error": "pipeline is idle, not failed", "hint": "trigger it"}
    status, _, body = call("POST", server.url + "api/pipelines/orders/skip")
    assert status == 409 and orjson.loads(body)["hint"] == "pause it first"
    daemon.states["orders"] = "failed"
    status, _, body = call("POST", server.url + "api/pipelines/orders/trigger")
    assert status == 202 and orjson.loads(body)["state"] == "failed"  # the CLI says so
    status, _, body = call("POST", server.url + "api/pipelines/orders/skip")
    assert status == 200 and orjson.loads(body)["skipped_batch"] == 3
    daemon.states["orders"] = "failed"
    status, _, body = call("POST", server.url + "api/pipelines/orders/retry")
    assert status == 200 and orjson.loads(body)["state"] == "idle"
    assert call("POST", server.url + "api/pipelines/nope/retry")[0] == 404


def test_percent_encoded_names_are_decoded(server: ServerHandle, daemon: FakeDaemon) -> None:
    quoted = urllib.request.quote(XSS_NAME, safe="")
    assert call("POST", server.url + f"api/pipelines/{quoted}/pause")[0] == 200
    assert daemon.states[XSS_NAME] == "paused"


@pytest.mark.parametrize("path", ["readyz", "metrics", "api/pipelines", "api/pipelines/orders", "nothing"])
def test_token_required_everywhere_but_healthz(secured: ServerHandle, path: str) -> None:
    status, headers, body = call("GET", secured.url + path)
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert b"s3cr3t" not in body
    assert call("GET", secured.url + path, token="wrong-token")[0] == 401
    assert call("GET", secured.url + path, header="s3cr3t-token")[0] == 401  # no "Bearer "
    assert call("GET", secured.url + path, token="s3cr3t-token")[0] in (200, 404)


def test_actions_need_the_token(secured: ServerHandle, daemon: FakeDaemon) -> None:
    assert call("POST", secured.url + "api/pipelines/orders/pause")[0] == 401
    assert daemon.calls == []
    assert call("POST", secured.url + "api/pipelines/orders/pause", token="s3cr3t-token")[0] == 200
    assert daemon.calls == [("pause", "orders")]


def test_healthz_and_page_shell_are_public(secured: ServerHandle) -> None:
    assert call("GET", secured.url + "healthz")[0] == 200
    status, _, body = call("GET", secured.url)
    assert status == 200 and b"/api/pipelines" in body


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_non_loopback_without_token_is_refused(daemon: FakeDaemon, host: str) -> None:
    with pytest.raises(ConfigError) as info:
        start_server(daemon, host, 0, None)
    assert "ODIBI_API_TOKEN" in (info.value.hint or "")
    with pytest.raises(ConfigError):
        start_server(daemon, host, 0, "")


def test_non_loopback_with_token_serves(daemon: FakeDaemon) -> None:
    with start_server(daemon, "0.0.0.0", 0, "tok-1234") as handle:
        url = f"http://127.0.0.1:{handle.port}/"
        assert call("GET", url + "api/pipelines")[0] == 401
        assert call("GET", url + "api/pipelines", token="tok-1234")[0] == 200


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("myhost")


def test_busy_port_is_a_config_error(server: ServerHandle, daemon: FakeDaemon) -> None:
    with pytest.raises(ConfigError, match="cannot listen"):
        start_server(daemon, "127.0.0.1", server.port, None)


def test_internal_errors_are_short_and_redacted(server: ServerHandle, daemon: FakeDaemon) -> None:
    daemon.explode = True
    status, _, body = call("GET", server.url + "api/pipelines")
    assert status == 500
    assert orjson.loads(body) == {"error": "internal error"}
    assert b"hunter2" not in body and b"Traceback" not in body


def test_secrets_in_error_strings_are_redacted(server: ServerHandle, daemon: FakeDaemon) -> None:
    register_secret("topsecret-value-42")
    try:
        original = daemon._describe

        def leaky(name: str) -> dict[str, Any]:
            return {**original(name), "last_error": "auth failed with topsecret-value-42"}

        daemon._describe = leaky  # type: ignore[method-assign]
        _, _, body = call("GET", server.url + "api/pipelines/orders")
        assert b"topsecret-value-42" not in body
        assert orjson.loads(body)["last_error"] == "auth failed with ***"
    finally:
        clear_secrets()


def test_stop_is_idempotent_and_closes_the_port(daemon: FakeDaemon) -> None:
    handle = start_server(daemon, "127.0.0.1", 0, None)
    assert call("GET", handle.url + "healthz")[0] == 200
    handle.stop()
    handle.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(handle.url + "healthz", timeout=2)


# ---------------------------------------------------------------- status page (served as data)
def test_page_is_self_contained_with_strict_csp(server: ServerHandle) -> None:
    status, headers, body = call("GET", server.url)
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp and "unsafe-inline" not in csp
    assert b"http://" not in body.replace(b"http://www.w3.org/2000/svg", b"")
    assert b"https://" not in body
    assert headers["X-Frame-Options"] == "DENY"


def test_page_never_parses_data_as_html() -> None:
    html = status_page().body.decode()
    script = html.split("<script>", 1)[1]
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
    assert "textContent" in script


def test_xss_name_travels_as_json_data_not_markup(server: ServerHandle) -> None:
    _, headers, body = call("GET", server.url + "api/pipelines")
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Content-Type-Options"] == "nosniff"
    names = [p["name"] for p in orjson.loads(body)["pipelines"]]
    assert XSS_NAME in names
    _, _, page = call("GET", server.url)
    assert b"alert(1)" not in page


def test_stop_cuts_kept_alive_connections(daemon: FakeDaemon) -> None:
    import http.client

    handle = start_server(daemon, "127.0.0.1", 0, None)
    conn = http.client.HTTPConnection("127.0.0.1", handle.port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        first = conn.getresponse()
        assert first.status == 200 and first.getheader("Connection") != "close"
        first.read()
        handle.stop()
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            conn.request("POST", "/api/pipelines/orders/pause")
            conn.getresponse()
        assert daemon.calls == []
    finally:
        conn.close()


def test_batch_history_routes(server: ServerHandle, daemon: FakeDaemon) -> None:
    status, _, body = call("GET", server.url + "api/pipelines/orders/batches?limit=2")
    assert status == 200
    assert orjson.loads(body) == {"pipeline": "orders", "batches": [
        {"batch": 3, "status": "committed", "rows_in": 5, "rows_out": 4},
        {"batch": 2, "status": "committed", "rows_in": 5, "rows_out": 4},
    ]}
    assert call("GET", server.url + "api/pipelines/orders/batches?limit=x")[0] == 400
    assert call("GET", server.url + "api/pipelines/nope/batches")[0] == 404
    status, headers, body = call("GET", server.url + "api/pipelines/orders/batches/2")
    assert status == 200 and orjson.loads(body)["batch"] == 2
    status, headers, body = call("GET", server.url + "api/pipelines/orders/batches/2?format=html")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"<title>orders batch 2</title>" in body
    assert "script-src 'none'" in headers["Content-Security-Policy"]
    assert call("GET", server.url + "api/pipelines/orders/batches/9")[0] == 404
    assert call("GET", server.url + "api/pipelines/orders/batches/-1")[0] == 400
    assert call("POST", server.url + "api/pipelines/orders/batches")[0] == 405


def test_retry_and_skip_actions(server: ServerHandle, daemon: FakeDaemon) -> None:
    daemon.states["orders"] = "failed"
    status, _, body = call("POST", server.url + "api/pipelines/orders/skip")
    assert status == 200 and orjson.loads(body) == {"action": "skip", "skipped_batch": 3, "state": "idle"}
    daemon.states["orders"] = "failed"
    status, _, body = call("POST", server.url + "api/pipelines/orders/retry")
    assert status == 200 and orjson.loads(body)["action"] == "retry"
    assert daemon.calls[-2:] == [("skip", "orders"), ("retry", "orders")]
