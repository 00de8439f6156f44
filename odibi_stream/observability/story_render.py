"""Rendering a story (``observability.story``) as self-contained HTML or as plain text.

The HTML is one file: inline CSS and inline SVG, no script, no external resource, every value
escaped — safe to open from disk, attach to a ticket or serve under a strict CSP. The text form
is what ``odibi-stream story --format text`` prints.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import orjson

_CSS = """
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d2330;background:#f6f7f9}
header{padding:14px 24px;background:#17213a;color:#fff}header h1{margin:0;font-size:18px}
main{padding:16px 24px}h2{font-size:15px;margin:22px 0 8px}
table{border-collapse:collapse;background:#fff;border:1px solid #d9dee7;border-radius:6px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e5e8ef;vertical-align:top}
th{font-size:12px;color:#6b7280;text-transform:uppercase}td.n{font-variant-numeric:tabular-nums;text-align:right}
.st{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px}
.st-committed{background:#dcfce7;color:#166534}.st-failed{background:#fee2e2;color:#991b1b}
.err{background:#fff1f0;border:1px solid #f3b5ad;border-radius:6px;padding:10px 14px;color:#7a1d12}
code,pre{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}pre{white-space:pre-wrap;word-break:break-all;margin:0}
.muted{color:#6b7280}svg .bar{fill:#6474c7}svg text{font-size:11px;fill:#1d2330}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode("utf-8")


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    if not rows:
        return '<p class="muted">none</p>'
    numeric = numeric or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="n">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>" for i, c in enumerate(r)
        ) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _steps_svg(steps: list[Mapping[str, Any]]) -> str:
    if not steps:
        return ""
    total = max((float(s["start_ms"]) + float(s["duration_ms"]) for s in steps), default=0.0) or 1.0
    width, row, label = 640, 18, 110
    parts = []
    for i, s in enumerate(steps):
        x = label + (width - label - 60) * float(s["start_ms"]) / total
        w = max(1.0, (width - label - 60) * float(s["duration_ms"]) / total)
        y = i * row
        parts.append(
            f'<text x="0" y="{y + 13}">{_e(s["step"])}</text>'
            f'<rect class="bar" x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row - 6}"/>'
            f'<text x="{x + w + 4:.1f}" y="{y + 13}">{float(s["duration_ms"]):.1f} ms</text>'
        )
    height = row * len(steps)
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="step timings">{"".join(parts)}</svg>')


def render_html(story: Mapping[str, Any]) -> str:
    """The story as a self-contained HTML page."""
    status = str(story.get("status", ""))
    title = f"{story.get('pipeline')} batch {story.get('batch')}"
    sections = [f'<p><span class="st st-{_e(status)}">{_e(status)}</span> '
                f'<span class="muted">trace {_e(story.get("trace_id"))} · started {_e(story.get("started"))} · '
                f'{_e(story.get("duration_ms"))} ms</span></p>']
    error = story.get("error")
    if error:
        where = " · ".join(_e(f"{k} {error.get(k)}") for k in ("step", "node", "where") if error.get(k))
        hint = f"<p>hint: {_e(error.get('hint'))}</p>" if error.get("hint") else ""
        sections.append(f'<div class="err"><strong>{_e(error.get("type"))}</strong>: {_e(error.get("message"))}'
                        f"<p>{where}</p>{hint}</div>")
    counts = story.get("counts") or {}
    if counts:
        sections.append("<h2>Rows</h2>" + _table(list(counts), [list(counts.values())], set(range(len(counts)))))
    sections.append("<h2>Steps</h2>" + _steps_svg(story.get("steps") or []))
    nodes = story.get("nodes") or []
    sections.append("<h2>Nodes</h2>" + _table(
        ["node", "rows in", "rows out", "rejected", "late", "ms"],
        [[n["name"], n["rows_in"], n["rows_out"], n["rejected"], n["late"], f"{n['duration_ms']:.1f}"] for n in nodes],
        {1, 2, 3, 4, 5},
    ))
    inputs = story.get("inputs") or {}
    sections.append("<h2>Inputs</h2>" + _table(
        ["node", "size", "range"],
        [[n, _json(v.get("size")), _json(v.get("range"))] for n, v in inputs.items()],
    ))
    outputs = story.get("outputs") or []
    sections.append("<h2>Outputs</h2>" + _table(
        ["node", "format", "location", "sink"],
        [[o.get("node"), o.get("format"), o.get("location"), _json(o.get("sink", {}))] for o in outputs],
    ))
    schemas = [[n["name"], _json(n["schema"])] for n in nodes if n.get("schema")]
    if schemas:
        sections.append("<h2>Output schema</h2>" + _table(["node", "columns"], schemas))
    sections.append(_dead_letters(story, nodes))
    if story.get("watermarks"):
        sections.append("<h2>Watermarks</h2>" + _table(["node", "watermark"], [[k, v] for k, v in story["watermarks"].items()]))
    if story.get("maintenance"):
        sections.append("<h2>Maintenance</h2>" + _table(
            ["node", "operation", "files before", "files after", "ms", "error"],
            [[m.get("node"), m.get("operation"), m.get("files_before"), m.get("files_after"),
              m.get("duration_ms"), m.get("error")] for m in story["maintenance"]],
        ))
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>{_e(title)}</h1></header><main>{''.join(sections)}</main></body></html>")


def _dead_letters(story: Mapping[str, Any], nodes: list[Mapping[str, Any]]) -> str:
    dl = story.get("dead_letters") or {}
    rows = [[n["name"], s["error"], s["source"], s["record"]] for n in nodes for s in n.get("samples") or []]
    by_node = ", ".join(f"{k}: {v}" for k, v in (dl.get("by_node") or {}).items()) or "none"
    return (f"<h2>Dead letters</h2><p>{_e(dl.get('total', 0))} ({_e(by_node)})</p>"
            + (_table(["node", "reason", "source", "record"], rows) if rows else ""))


def render_text(story: Mapping[str, Any]) -> str:
    """The story as plain text (the CLI's ``--format text``)."""
    lines = [f"{story.get('pipeline')} batch {story.get('batch')}: {story.get('status')}"
             f" in {story.get('duration_ms')} ms (trace {story.get('trace_id')})"]
    error = story.get("error")
    if error:
        at = ", ".join(f"{k} {error.get(k)}" for k in ("step", "node", "where") if error.get(k))
        lines.append(f"  error: {error.get('type')}: {error.get('message')}" + (f" [{at}]" if at else ""))
    counts = story.get("counts")
    if counts:
        lines.append("  rows: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    lines.append("  steps: " + ", ".join(f"{s['step']} {s['duration_ms']:.1f} ms" for s in story.get("steps") or []))
    for n in story.get("nodes") or []:
        lines.append(f"  node {n['name']}: {n['rows_in']} in, {n['rows_out']} out, {n['rejected']} rejected, "
                     f"{n['late']} late, {n['duration_ms']:.1f} ms")
        lines.extend(f"    rejected: {s['error']} ({s['source']}): {s['record']}" for s in n.get("samples") or [])
    for node, inp in (story.get("inputs") or {}).items():
        lines.append(f"  input {node}: {_json(inp.get('size'))}")
    for out in story.get("outputs") or []:
        lines.append(f"  output {out.get('node')}: {out.get('format')} {out.get('location')} {_json(out.get('sink', {}))}")
    for m in story.get("maintenance") or []:
        lines.append(f"  maintenance {m.get('node')} {m.get('operation')}: files {m.get('files_before')} -> "
                     f"{m.get('files_after')} in {m.get('duration_ms')} ms" + (f" error {m['error']}" if m.get("error") else ""))
    return "\n".join(lines)
