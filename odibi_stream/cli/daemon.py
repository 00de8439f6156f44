"""``odibi-stream serve | status | trigger``: run the daemon and talk to a running one.

``status`` and ``trigger`` find the daemon at the project's configured ``server.host:port``
(``--port`` overrides) and send ``Authorization: Bearer $ODIBI_API_TOKEN`` when it is set.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from typing import Any

import click
import orjson

from odibi_stream.exceptions import OdibiError

TIMEOUT = 2.0


def _base_url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"  # a wildcard bind is reachable on loopback
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _call(url: str, method: str = "GET") -> tuple[int, Any]:
    """HTTP call to the daemon; raises OSError (URLError) if nothing answers."""
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    req.add_header("X-Odibi-Request", "1")  # the daemon refuses POSTs without it (CSRF guard)
    token = os.environ.get("ODIBI_API_TOKEN")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, orjson.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, orjson.loads(body)
        except orjson.JSONDecodeError:
            return exc.code, {"error": body.decode("utf-8", "replace")}


@click.command("serve")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@click.option("--env", default=None, help="Environment overlay to apply.")
@click.option("--host", default=None, help="Bind address (default: server.host of odibi.yaml).")
@click.option("--port", type=int, default=None, help="Bind port (default: server.port; 0 = any free port).")
def serve(project: str, env: str | None, host: str | None, port: int | None) -> None:
    """Run the daemon: keep every pipeline of PROJECT flowing until SIGTERM/SIGINT."""
    from odibi_stream.api import Runtime

    runtime = Runtime.from_project(project, env=env, host=host, port=port)

    def started(rt: Runtime) -> None:
        names = ", ".join(sorted(rt.project.pipelines))
        click.echo(f"odibi-stream serving {len(rt.project.pipelines)} pipeline(s): {names}")
        click.echo(f"status: {rt.url}" if rt.url else "status: (HTTP control plane disabled)")
        sys.stdout.flush()

    clean = runtime.serve(on_started=started)
    click.echo("drained" if clean else "grace period over: abandoned batches replay on next start")
    if not clean:
        # Abandoned batch threads (and their node pools, joined at interpreter exit) must not
        # hold the exit past the grace period; the checkpoint makes the replay safe.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    raise click.exceptions.Exit(0)


def _checkpoint_rows(proj: Any) -> list[dict[str, Any]]:
    from odibi_stream.checkpoints.manager import CheckpointManager

    rows = []
    with CheckpointManager.open(proj.checkpoint) as manager:
        for name, cfg in proj.pipelines.items():
            rec = manager.log(name).recover(quarantine=False)
            rows.append({
                "name": name,
                "trigger": cfg.trigger.kind,
                "last_committed": rec.last_committed,
                "pending": rec.pending.batch if rec.pending else None,
                "problems": rec.problems,
            })
    return rows


@click.command("status")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@click.option("--env", default=None, help="Environment overlay to apply.")
@click.option("--port", type=int, default=None, help="Port of the running daemon (default: server.port).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def status(project: str, env: str | None, port: int | None, as_json: bool) -> None:
    """Show each pipeline's checkpoint and, if a daemon answers, its live state."""
    from odibi_stream.service.project import load

    proj = load(project, env)
    rows = _checkpoint_rows(proj)
    url = _base_url(proj.config.server.host, port if port is not None else proj.config.server.port)
    live: dict[str, Any] = {}
    try:
        code, body = _call(f"{url}/api/pipelines")
        if code == 200:
            live = {p["name"]: p for p in body.get("pipelines", [])}
    except OSError:
        code = 0
    for row in rows:
        row["daemon"] = live.get(row["name"])
    if as_json:
        click.echo(orjson.dumps({"daemon_url": url if code == 200 else None, "pipelines": rows}).decode())
        return
    _print_table(rows, url if code == 200 else None)


def _print_table(rows: list[dict[str, Any]], url: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"daemon: {url}" if url else "daemon: not reachable (checkpoints only)")
    for col in ("pipeline", "trigger", "state", "last committed", "pending", "lag", "last error"):
        table.add_column(col)
    for row in rows:
        live = row["daemon"] or {}
        table.add_row(
            row["name"], row["trigger"], str(live.get("state", "-")), str(row["last_committed"]),
            "-" if row["pending"] is None else str(row["pending"]), _lag_text(live.get("lag")),
            str(live.get("last_error") or ""),
        )
    Console().print(table)


def _lag_text(lag: Any) -> str:
    """``source unit=n ...`` per source (Kafka: one unit per ``topic:partition``)."""
    if not isinstance(lag, dict) or not lag:
        return "-"
    parts = []
    for source, by_unit in sorted(lag.items()):
        units = " ".join(f"{unit}={n}" for unit, n in sorted(dict(by_unit).items()))
        parts.append(f"{source} {units}")
    return "; ".join(parts)


@click.command("trigger")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@click.argument("pipeline")
@click.option("--env", default=None, help="Environment overlay to apply.")
@click.option("--port", type=int, default=None, help="Port of the running daemon (default: server.port).")
def trigger(project: str, pipeline: str, env: str | None, port: int | None) -> None:
    """Ask the running daemon of PROJECT to run PIPELINE now."""
    from odibi_stream.service.project import load

    proj = load(project, env)
    proj.pipeline(pipeline)
    url = _base_url(proj.config.server.host, port if port is not None else proj.config.server.port)
    try:
        code, body = _call(f"{url}/api/pipelines/{pipeline}/trigger", method="POST")
    except OSError as exc:
        raise OdibiError(
            f"no odibi-stream daemon is answering at {url}",
            hint=f"start one with: odibi-stream serve {project}",
        ) from exc
    if code >= 400:
        raise OdibiError(f"daemon refused the trigger ({code}): {body.get('error', body)}")
    click.echo(f"triggered {pipeline} ({url})")


COMMANDS: list[click.Command] = [serve, status, trigger]
