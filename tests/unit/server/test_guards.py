"""Host (DNS rebinding) and POST (CSRF) guards as pure functions."""

from __future__ import annotations

import pytest

from odibi_stream.server.guards import HostPolicy, csrf_problem, split_host


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:8765", ("127.0.0.1", 8765)),
        ("[::1]:80", ("::1", 80)),
        ("LocalHost.", ("localhost", None)),
        ("example.com", ("example.com", None)),
        ("a@b", None), ("a/b", None), ("", None), (None, None), ("host:notaport", None), ("x, y", None),
    ],
)
def test_split_host(value: str | None, expected: tuple[str, int | None] | None) -> None:
    assert split_host(value) == expected


LOOPBACK = HostPolicy.build("127.0.0.1", ["odibi.internal"])


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:8765", "127.0.0.1", "localhost:8765", "LOCALHOST", "app.localhost:1", "[::1]:8765",
     "127.9.9.9", "odibi.internal:8765", "ODIBI.internal", None],
)
def test_loopback_bind_accepts_local_and_configured_names(host: str | None) -> None:
    assert LOOPBACK.accepts(host)


@pytest.mark.parametrize(
    "host",
    ["rebind.attacker.example:8765", "attacker.example", "10.0.0.5:8765", "localhost.attacker.example",
     "127.0.0.1.attacker.example", "odibi.internal.evil", "", "x, 127.0.0.1", "user@127.0.0.1"],
)
def test_loopback_bind_refuses_foreign_names(host: str) -> None:
    assert not LOOPBACK.accepts(host)


def test_wildcard_bind_accepts_ip_literals_but_not_names() -> None:
    policy = HostPolicy.build("0.0.0.0")
    assert policy.accepts("10.1.2.3:8765") and policy.accepts("[fe80::1]:8765")
    assert not policy.accepts("my-pod.example:8765")


def test_named_bind_accepts_its_own_name_and_ip_bind_its_ip() -> None:
    assert HostPolicy.build("myhost").accepts("MyHost:8765")
    assert HostPolicy.build("10.0.0.5").accepts("10.0.0.5:1")
    assert not HostPolicy.build("10.0.0.5").accepts("10.0.0.6:1")


SAME = {"host": "127.0.0.1:8765", "x-odibi-request": "1"}


@pytest.mark.parametrize(
    "headers",
    [
        SAME,
        {"host": "127.0.0.1:8765", "content-type": "application/json; charset=utf-8"},
        {**SAME, "origin": "http://127.0.0.1:8765"},
        {**SAME, "sec-fetch-site": "same-origin"},
        {**SAME, "sec-fetch-site": "none"},
        {"host": "localhost", "x-odibi-request": "1", "origin": "http://localhost:80"},
    ],
)
def test_same_origin_posts_pass(headers: dict[str, str]) -> None:
    assert csrf_problem(headers, "http") is None


@pytest.mark.parametrize(
    "headers",
    [
        {"host": "127.0.0.1:8765"},  # a form or no-cors fetch: no custom header
        {"host": "127.0.0.1:8765", "content-type": "text/plain"},
        {"host": "127.0.0.1:8765", "content-type": "application/x-www-form-urlencoded"},
        {**SAME, "origin": "null"},  # file:// and sandboxed pages
        {**SAME, "origin": "http://127.0.0.1:9999"},
        {**SAME, "origin": "https://127.0.0.1:8765"},
        {**SAME, "origin": "http://evil.example"},
        {**SAME, "sec-fetch-site": "cross-site"},
        {**SAME, "sec-fetch-site": "same-site"},
        {"x-odibi-request": "1", "origin": "http://127.0.0.1:8765"},  # origin but no Host to match
    ],
)
def test_cross_site_posts_are_refused(headers: dict[str, str]) -> None:
    assert csrf_problem(headers, "http") is not None


def test_tls_scheme_changes_the_expected_origin() -> None:
    headers = {**SAME, "origin": "https://127.0.0.1:8765"}
    assert csrf_problem(headers, "https") is None
    assert csrf_problem({**SAME, "origin": "https://localhost"}, "https") is not None
