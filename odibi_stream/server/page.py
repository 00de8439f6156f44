"""The status page: one self-contained HTML file and the Content-Security-Policy that fits it.

Lifecycle contract:
    * :func:`status_page` is called by the HTTP server for ``GET /``; the file is read from the
      package's ``static/`` folder once and cached for the process lifetime.
    * The page (the operator console: pipeline list, pipeline pages with history charts, DAG,
      outputs, dead letters, stories and confirmed actions) carries no data: it fetches
      ``/api/pipelines`` and ``/api/pipelines/{name}/batches`` itself (every 2 s) and renders
      every value with ``textContent`` (never as HTML), so pipeline names and error messages
      cannot inject markup. Charts are inline SVG built in the page: no build step, no library.
    * The CSP allows exactly the page's own inline ``<script>``/``<style>`` blocks (by SHA-256
      hash) and same-origin requests: even a rendering bug could not run injected script.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

_BLOCK_RE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@dataclass(frozen=True)
class Page:
    """A ready-to-serve page.

    Attributes:
        body: UTF-8 HTML.
        csp: Value of the ``Content-Security-Policy`` header for this body.
    """

    body: bytes
    csp: str


@lru_cache(maxsize=1)
def status_page() -> Page:
    """Return the status page and its Content-Security-Policy."""
    html = resources.files("odibi_stream.server").joinpath("static/index.html").read_text("utf-8")
    return Page(body=html.encode("utf-8"), csp=content_security_policy(html))


def content_security_policy(html: str) -> str:
    """Build a CSP that admits only the inline script/style blocks of ``html``, by hash."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, content in _BLOCK_RE.findall(html):
        digest = base64.b64encode(hashlib.sha256(content.encode("utf-8")).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    script_src = " ".join(hashes["script"]) or "'none'"
    style_src = " ".join(hashes["style"]) or "'none'"
    return (
        "default-src 'none'; "
        f"script-src {script_src}; style-src {style_src}; "
        "connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
