"""Batch history routes: ``GET /api/pipelines/{name}/batches`` and ``.../batches/{n}``.

* ``/batches?limit=N`` — the newest N (default 50, at most 1000) story summaries, newest first:
  ``{"pipeline": name, "batches": [...]}``.
* ``/batches/{n}`` — the full story of batch n as JSON; ``?format=html`` renders it as a
  self-contained page (served with a CSP admitting only its own inline style, no script).

Called by :class:`~odibi_stream.server.routes.ApiRouter` after every check passed; answers
404 for unknown pipelines and batches without naming them, 400 for malformed numbers.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from odibi_stream.observability.story_render import render_html
from odibi_stream.server.page import content_security_policy
from odibi_stream.server.responses import Request, Response, error, json_response
from odibi_stream.service.control import ControlPlane

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


def _query(request: Request) -> dict[str, str]:
    found = parse_qs(urlsplit(request.target).query, keep_blank_values=True)
    return {k: v[-1] for k, v in found.items()}


def batches_response(control: ControlPlane, name: str, request: Request) -> Response:
    """The newest story summaries of pipeline ``name``."""
    raw = _query(request).get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit():
        return error(400, "limit must be a whole number")
    limit = min(int(raw), MAX_LIMIT)
    found = control.batches(name, limit)
    if found is None:
        return error(404, "unknown pipeline")
    return json_response(200, {"pipeline": name, "batches": found})


def batch_response(control: ControlPlane, name: str, number: str, request: Request) -> Response:
    """One batch's story (JSON, or HTML with ``?format=html``)."""
    if not number.isdigit() or len(number) > 18:
        return error(400, "batch must be a whole number")
    story = control.batch(name, int(number))
    if story is None:
        return error(404, "unknown batch")
    if _query(request).get("format") == "html":
        page = render_html(story)
        return Response(200, page.encode("utf-8"), "text/html; charset=utf-8", (
            ("Content-Security-Policy", content_security_policy(page)),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),
        ))
    return json_response(200, story)
