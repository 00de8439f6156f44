"""``odibi-stream serve | status | trigger``: run the daemon and talk to a running one.

``serve`` publishes the daemon's address (see :mod:`odibi_stream.service.address`) while it
runs; ``status`` and ``trigger`` find it there (or at ``--port``, or at ``server.host:port``),
see :mod:`odibi_stream.cli.daemon_client`. Heavy modules are imported inside the commands, so
``--help`` stays fast and needs no optional extra.
"""

from __future__ import annotations

import os
import sys
from typing import Any
from urllib.parse import urlsplit

import click
import orjson

from odibi_stream.cli.daemon_client import call, locate
from odibi_stream.exceptions import OdibiError


@click.command("serve")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@click.option("--env", default=None, help="Environment overlay to apply.")
@click.option("--host", default=None, help="Bind address (default: server.host of odibi.yaml).")
@click.option("--port", type=int, default=None, help="Bind port (default: server.port; 0 = any free port).")
def serve(project: str, env: str | None, host: str | None, port: int | None) -> None:
    """Run the daemon: keep every pipeline of PROJECT flowing until SIGTERM/SIGINT."""
    from odibi_stream.api import Runtime
    from odibi_stream.service.address import Published, publish

    runtime = Runtime.from_project(project, env=env, host=host, port=port)
    published: list[Published] = []

    def started(rt: Runtime) -> None:
        if rt.url:  # published first: whoever reads the status line can find the daemon
            try:
                bound = urlsplit(rt.url).port or 0
                published.append(publish(rt.project.root, rt.url, rt.host, bound))
            except OSError as exc:  # finding the daemon is a convenience: serve anyway
                click.echo(f"warning: cannot publish the daemon's address: {exc}", err=True)
        names = ", ".join(sorted(rt.project.pipelines))
        click.echo(f"odibi-stream serving {len(rt.project.pipelines)} pipeline(s): {names}")
        click.echo(f"status: {rt.url}" if rt.url else "status: (HTTP control plane disabled)")
        sys.stdout.flush()

    try:
        clean = runtime.serve(on_started=started)
    finally:
        for item in published:
            item.close()
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
    from odibi_stream.service.recovery import is_paused

    rows = []
    with CheckpointManager.open(proj.checkpoint) as manager:
        for name, cfg in proj.pipelines.items():
            rec = manager.log(name).recover(quarantine=False)
            rows.append({
                "name": name,
                "trigger": cfg.trigger.kind,
                "last_committed": rec.last_committed if rec.last_committed >= 0 else None,
                "pending": rec.pending.batch if rec.pending else None,
                "paused": is_paused(manager.store, name),
                "problems": rec.problems,
            })
    return rows


@click.command("status")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@click.option("--env", default=None, help="Environment overlay to apply.")
@click.option("--port", type=int, default=None, help="Port of the running daemon (default: found).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def status(project: str, env: str | None, port: int | None, as_json: bool) -> None:
    """Show each pipeline's checkpoint and, if a daemon answers, its live state and last error."""
    from odibi_stream.service.project import load

    proj = load(project, env)
    rows = _checkpoint_rows(proj)
    search = locate(proj, port)
    live: dict[str, Any] = {}
    if search.url is not None:
        code, body = call(f"{search.url}/api/pipelines")
        if code == 200:
            live = {p["name"]: p for p in body.get("pipelines", [])}
        else:
            raise OdibiError(f"the daemon at {search.url} answered {code}: {body.get('error', body)}",
                             hint=body.get("hint") if isinstance(body, dict) else None)
    for row in rows:
        row["daemon"] = live.get(row["name"])
    if as_json:
        click.echo(orjson.dumps({"daemon_url": search.url, "pipelines": rows}).decode())
        return
    from odibi_stream.cli.status_view import print_status

    print_status(rows, search.url, project)


@click.command("trigger")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@click.argument("pipeline")
@click.option("--env", default=None, help="Environment overlay to apply.")
@click.option("--port", type=int, default=None, help="Port of the running daemon (default: found).")
def trigger(project: str, pipeline: str, env: str | None, port: int | None) -> None:
    """Ask the running daemon of PROJECT to run PIPELINE now."""
    from odibi_stream.service.project import load

    proj = load(project, env)
    name = proj.pipeline(pipeline).pipeline
    search = locate(proj, port)
    if search.url is None:
        raise OdibiError(
            search.not_found(),
            hint=f"start one with: odibi-stream serve {project}  (or run it once: "
            f"odibi-stream run {project} --pipeline {name})",
        )
    code, body = call(f"{search.url}/api/pipelines/{name}/trigger", method="POST")
    if code >= 400:
        raise OdibiError(f"daemon refused the trigger ({code}): {body.get('error', body)}",
                         hint=body.get("hint"))
    state = body.get("state")
    if state in ("failed", "paused"):
        raise OdibiError(
            f"{name} is {state}: the trigger is ignored until it is "
            + ("retried" if state == "failed" else "resumed"),
            hint=_blocked_hint(project, name, state),
        )
    click.echo(f"triggered {name} ({search.url})")


def _blocked_hint(project: str, name: str, state: str) -> str:
    if state == "failed":
        return (f"see why: odibi-stream status {project}; after fixing the cause: "
                f"odibi-stream retry {project} {name} (or skip the failed batch: "
                f"odibi-stream skip {project} {name})")
    return f"odibi-stream resume {project} {name}"


COMMANDS: list[click.Command] = [serve, status, trigger]
