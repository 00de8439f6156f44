"""How ``odibi-stream status`` prints: a table of pipelines, then each failure with its location."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from odibi_stream.runtime.failure import error_lines


def _committed(value: Any) -> str:
    return "none" if value is None or (isinstance(value, int) and value < 0) else str(value)


def lag_text(lag: Any) -> str:
    """``source unit=n ...`` per source (Kafka: one unit per ``topic:partition``)."""
    if not isinstance(lag, dict) or not lag:
        return "-"
    parts = []
    for source, by_unit in sorted(lag.items()):
        units = " ".join(f"{unit}={n}" for unit, n in sorted(dict(by_unit).items()))
        parts.append(f"{source} {units}")
    return "; ".join(parts)


def _state(row: dict[str, Any], live: dict[str, Any]) -> str:
    if live:
        return str(live.get("state", "-"))
    return "paused" if row.get("paused") else "-"


def print_status(rows: list[dict[str, Any]], url: str | None, project: str) -> None:
    """The table, then per pipeline its error (location, input, hint) and recovery commands."""
    console = Console(soft_wrap=True, highlight=False)
    table = Table(title=f"daemon: {url}" if url else "daemon: not reachable (checkpoints only)")
    for col in ("pipeline", "trigger", "state", "last committed", "pending", "lag", "last error"):
        table.add_column(col)
    for row in rows:
        live = row["daemon"] or {}
        error = live.get("error") or {}
        table.add_row(
            row["name"], row["trigger"], _state(row, live), _committed(row["last_committed"]),
            "none" if row["pending"] is None else str(row["pending"]), lag_text(live.get("lag")),
            str(error.get("message") or live.get("last_error") or ""),
        )
    console.print(table)
    for row in rows:
        live = row["daemon"] or {}
        error = live.get("error")
        if error:
            console.print(Text(f"{row['name']}: {live.get('state')}", style="bold"))
            for line in error_lines(error):
                console.print(Text(f"  {line}"))
            if live.get("state") == "failed":
                console.print(Text(
                    f"  recover: fix the cause, then `odibi-stream retry {project} {row['name']}`"
                    f" (or `odibi-stream skip {project} {row['name']}` to drop the batch)"))
        if live.get("reload_error"):
            console.print(Text(f"{row['name']}: reload failed (old config still running):"))
            for line in str(live["reload_error"]).splitlines():
                console.print(Text(f"  {line}"))
        for problem in row.get("problems") or []:
            console.print(Text(f"{row['name']}: checkpoint problem: {problem}"))
