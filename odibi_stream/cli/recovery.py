"""``odibi-stream pause | resume | retry | skip PROJECT PIPELINE``: recover a pipeline.

Live when a daemon serves the project (found as ``status`` finds it, see
:mod:`odibi_stream.cli.daemon_client`): the request goes to its API and the daemon acts on its
own threads. Offline otherwise, through the checkpoint (:mod:`odibi_stream.service.recovery`),
refused while another process holds the pipeline's lease.

* ``pause``: no new batch starts (a running one finishes); durable across restarts.
* ``resume``: undo ``pause`` (and clear a failure).
* ``retry``: run a failed pipeline's failed batch again (offline: run the next batch now).
* ``skip``: commit the pending batch without running it — its input is never processed.
  Asks for confirmation unless ``--yes``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from odibi_stream.cli.daemon_client import call, locate
from odibi_stream.exceptions import OdibiError


def _common(func: Callable[..., None]) -> Callable[..., None]:
    func = click.option("--port", type=int, default=None,
                        help="Port of the running daemon (default: found).")(func)
    func = click.option("--env", default=None, help="Environment overlay to apply.")(func)
    func = click.argument("pipeline")(func)
    return click.argument("project", type=click.Path(exists=True, file_okay=False))(func)


def _live(project: Any, name: str, action: str, port: int | None) -> dict[str, Any] | None:
    """POST the action to the project's daemon; None when no daemon answers."""
    search = locate(project, port)
    if search.url is None:
        if port is not None:
            raise OdibiError(search.not_found(), hint="drop --port to act offline on the checkpoint")
        return None
    code, body = call(f"{search.url}/api/pipelines/{name}/{action}", method="POST")
    if code == 409:
        raise OdibiError(f"{action} refused: {body.get('error')}", hint=body.get("hint"))
    if code >= 400:
        raise OdibiError(f"the daemon at {search.url} refused {action} ({code}): "
                         f"{body.get('error', body)}", hint=body.get("hint"))
    body["url"] = search.url
    return dict(body)


def _load(project: str, pipeline: str, env: str | None) -> tuple[Any, str]:
    from odibi_stream.service.project import load

    proj = load(project, env)
    return proj, proj.pipeline(pipeline).pipeline


def _toggle(project: str, pipeline: str, env: str | None, port: int | None, action: str, done_word: str) -> None:
    """Pause or resume: through the running daemon when there is one, else in the checkpoint."""
    proj, name = _load(project, pipeline, env)
    done = _live(proj, name, action, port)
    if done is not None:
        click.echo(f"{done_word} {name} ({done['url']}): state {done.get('state')}")
        return
    from odibi_stream.service import recovery

    offline = recovery.pause if action == "pause" else recovery.resume
    click.echo(offline(proj, name).message)


@click.command("pause")
@_common
def pause(project: str, pipeline: str, env: str | None, port: int | None) -> None:
    """Stop starting batches of PIPELINE (a running batch finishes); kept across restarts."""
    _toggle(project, pipeline, env, port, "pause", "paused")


@click.command("resume")
@_common
def resume(project: str, pipeline: str, env: str | None, port: int | None) -> None:
    """Undo pause (and clear a failure): PIPELINE runs again when data or its trigger says so."""
    _toggle(project, pipeline, env, port, "resume", "resumed")


@click.command("retry")
@_common
def retry(project: str, pipeline: str, env: str | None, port: int | None) -> None:
    """Run a failed PIPELINE's failed batch again (fix its cause first).

    Without a daemon, runs the next batch (the pending one, replayed) in this process.
    """
    proj, name = _load(project, pipeline, env)
    done = _live(proj, name, "retry", port)
    if done is not None:
        click.echo(f"retrying {name} ({done['url']}): state {done.get('state')}; "
                   f"follow it with: odibi-stream status {project}")
        return
    from odibi_stream.service import recovery

    outcome, _reports = recovery.retry(proj, name)
    click.echo(outcome.message)


@click.command("skip")
@_common
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def skip(project: str, pipeline: str, env: str | None, port: int | None, yes: bool) -> None:
    """Drop PIPELINE's pending (failed) batch: commit it without running it.

    Its input is never processed (files stay where they are). A failed pipeline goes on with
    the next batch; a paused one stays paused.
    """
    proj, name = _load(project, pipeline, env)
    if not yes:
        click.confirm(f"Skip the pending batch of '{name}' (its input is never processed)?",
                      abort=True, err=True)
    done = _live(proj, name, "skip", port)
    if done is not None:
        click.echo(f"skipped batch {done.get('skipped_batch')} of {name} ({done['url']}): "
                   f"state {done.get('state')}")
        return
    from odibi_stream.service import recovery

    click.echo(recovery.skip(proj, name).message)


COMMANDS: list[click.Command] = [pause, resume, retry, skip]
