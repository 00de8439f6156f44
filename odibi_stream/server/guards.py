"""Browser-facing guards: the Host check (DNS rebinding) and the POST check (CSRF).

Lifecycle contract:
    * Pure functions over request headers, called by the routers for every request before any
      route runs; they never raise and never echo the rejected values.
    * :class:`HostPolicy` is built once per listener from the bind address and
      ``server.allowed_hosts``.

Why these rules: a DNS-rebinding page reaches the server under the attacker's *name*, so the
``Host`` header must be a name we know (loopback names, the bind name, configured names) or an IP
literal, which no rebinding can produce. A cross-site page can send a "simple" POST (form,
``no-cors`` fetch) but cannot add a custom header or ``Content-Type: application/json`` without a
CORS preflight, which this server never approves; ``Origin``/``Sec-Fetch-Site`` reject the rest.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

CSRF_HEADER = "x-odibi-request"
"""A POST must carry this header (any non-empty value, e.g. ``1``) or a JSON content type."""

_WILDCARDS = frozenset({"", "0.0.0.0", "::"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def split_host(value: str | None) -> tuple[str, int | None] | None:
    """Parse a ``Host`` value into (lower-case name without brackets, port); None if malformed."""
    if not value or any(ch in value for ch in "/?#@\\ ,"):
        return None
    try:
        parts = urlsplit("//" + value)
        port = parts.port
    except ValueError:
        return None
    name = (parts.hostname or "").rstrip(".")
    if not name:
        return None
    return name, port


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


@dataclass(frozen=True)
class HostPolicy:
    """Which ``Host`` header values a listener accepts.

    Attributes:
        bound: The bind address as configured (a name, an IP literal or a wildcard).
        allowed: Extra lower-case names from ``server.allowed_hosts``.
    """

    bound: str
    allowed: frozenset[str] = frozenset()

    @classmethod
    def build(cls, bound: str, allowed: list[str] | tuple[str, ...] = ()) -> HostPolicy:
        """Normalise the bind address and the configured names."""
        names = frozenset(n.strip().lower().rstrip(".") for n in allowed if n.strip())
        return cls(bound=bound.strip("[]").lower(), allowed=names)

    def accepts(self, host_header: str | None) -> bool:
        """True if a request with this ``Host`` may be served (a missing header is no browser)."""
        if host_header is None:
            return True
        parsed = split_host(host_header)
        if parsed is None:
            return False
        name = parsed[0]
        if name == "localhost" or name.endswith(".localhost") or name in self.allowed:
            return True
        address = _ip(name)
        if address is None:
            return name == self.bound
        if address.is_loopback or self.bound in _WILDCARDS:
            return True
        bound_ip = _ip(self.bound)
        return bound_ip is not None and bound_ip == address


def _origin_key(scheme: str, name: str, port: int | None) -> tuple[str, str, int | None]:
    return scheme, name, port if port is not None else _DEFAULT_PORTS.get(scheme)


def csrf_problem(headers: Mapping[str, str], scheme: str) -> str | None:
    """Why a POST must be refused as possibly cross-site, or None if it may proceed.

    Args:
        headers: Request headers with lower-case names.
        scheme: ``http`` or ``https`` as served by this listener.
    """
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not headers.get(CSRF_HEADER, "").strip() and content_type != "application/json":
        return "missing X-Odibi-Request header"
    site = headers.get("sec-fetch-site", "").strip().lower()
    if site and site not in ("same-origin", "none"):
        return "cross-site request"
    origin = headers.get("origin")
    if origin is None:
        return None
    host = split_host(headers.get("host"))
    try:
        parts = urlsplit(origin.strip())
        origin_key = _origin_key(parts.scheme.lower(), (parts.hostname or "").rstrip("."), parts.port)
    except ValueError:
        return "foreign origin"
    if host is None or origin_key != _origin_key(scheme, host[0], host[1]):
        return "foreign origin"
    return None
