"""Finding and calling the daemon that serves a project (``status``, ``trigger``, recovery).

Where to look, in order: ``--port`` when given (on ``server.host``); else every live daemon's
address file for the project (see :mod:`odibi_stream.service.address`), newest first; else the
project's configured ``server.host:port``. The first that answers ``GET /healthz`` is used.
Calls send ``X-Odibi-Request: 1`` (the daemon's CSRF guard) and ``Authorization: Bearer
$ODIBI_API_TOKEN`` when that is set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

TIMEOUT = 2.0
PROBE_TIMEOUT = 1.0
TOKEN_ENV = "ODIBI_API_TOKEN"


def base_url(host: str, port: int, scheme: str = "http") -> str:
    """The URL of a daemon bound to ``host:port`` (a wildcard bind is reached on loopback)."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def call(url: str, method: str = "GET", timeout: float = TIMEOUT) -> tuple[int, Any]:
    """One HTTP call to the daemon; raises OSError (URLError) if nothing answers."""
    # urllib.request pulls in http.client and ssl (~20 ms): every command imports this module.
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    req.add_header("X-Odibi-Request", "1")  # the daemon refuses POSTs without it (CSRF guard)
    token = os.environ.get(TOKEN_ENV)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, orjson.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, orjson.loads(body)
        except orjson.JSONDecodeError:
            return exc.code, {"error": body.decode("utf-8", "replace")}


@dataclass(frozen=True)
class Search:
    """Where a daemon was looked for.

    Attributes:
        url: The daemon that answered, or None.
        tried: Every URL tried, in order.
        address_dir: The folder of the project's address files.
    """

    url: str | None
    tried: list[str]
    address_dir: Path

    def not_found(self) -> str:
        """A sentence saying where nothing answered."""
        return (f"no odibi-stream daemon answers for this project (tried {', '.join(self.tried)}; "
                f"address files in {self.address_dir})")


def candidates(project: Any, port: int | None) -> list[str]:
    """URLs to try for ``project`` (a loaded ``Project``), in order (see the module)."""
    from odibi_stream.service.address import find

    server = project.config.server
    scheme = "https" if getattr(server, "tls", None) else "http"
    if port is not None:
        return [base_url(server.host, port, scheme)]
    urls = [a.url.rstrip("/") for a in find(project.root)]
    configured = base_url(server.host, server.port, scheme)
    if server.port and configured not in urls:
        urls.append(configured)
    return urls


def locate(project: Any, port: int | None) -> Search:
    """The first candidate that answers ``/healthz``."""
    from odibi_stream.service.address import project_folder

    tried = candidates(project, port)
    for url in tried:
        try:
            code, _ = call(f"{url}/healthz", timeout=PROBE_TIMEOUT)
        except OSError:
            continue
        if code == 200:
            return Search(url, tried, project_folder(project.root))
    return Search(None, tried, project_folder(project.root))
