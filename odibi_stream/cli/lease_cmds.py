"""``odibi-stream checkpoint unlock``: clear a stuck pipeline lease.

A lease file that no healthy daemon could have written — garbage, an impossible epoch, an
expiry far beyond any renewal held by another owner — keeps a pipeline ``waiting_lease``; the
daemon reports it (``last_error``, the log, the API) naming this command. ``unlock`` replaces
the lease by an expired one whose epoch is at least every epoch recorded in the pipeline's
checkpoint, so the next daemon takes over at once with a higher epoch and fencing still holds.
If a daemon does own the pipeline, it loses the lease (its in-flight batch cannot commit) and
another owner takes over — safe for the data, but run it when no healthy daemon owns the
pipeline.

Lifecycle: :func:`register` adds the command to the ``checkpoint`` group of the CLI.
"""

from __future__ import annotations

from pathlib import Path

import click

from odibi_stream.checkpoints.lease_record import clear_lease
from odibi_stream.checkpoints.log import PipelineLog
from odibi_stream.core.clock import utc_now


def _highest_epoch(log: PipelineLog) -> int:
    """The highest lease epoch recorded in the retained offsets and commits entries."""
    rec = log.recover(quarantine=False)
    epochs = [c.epoch for c in rec.commits]
    if rec.pending is not None:
        epochs.append(rec.pending.epoch)
    return max(epochs, default=0)


@click.command()
@click.argument("project", type=click.Path(path_type=Path))
@click.option("--pipeline", "pipeline", required=True, help="Pipeline name.")
@click.option("--env", "env", default=None, help="Environment overlay from odibi.yaml.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def unlock(project: Path, pipeline: str, env: str | None, yes: bool) -> None:
    """Clear a stuck (corrupt, impossible or abandoned) lease of a pipeline.

    The next daemon takes the pipeline over at once, with a higher epoch.
    """
    from odibi_stream.cli.checkpoint import open_log

    manager, log = open_log(project, pipeline, env)
    try:
        raw = log.store.read(f"{log.pipeline}/lease.json")
        if raw is None:
            click.echo(f"pipeline {log.pipeline} has no lease: nothing to clear")
            return
        if not yes:
            click.confirm(
                f"clear the lease of pipeline {log.pipeline}? a daemon owning it would lose it",
                abort=True,
                err=True,
            )
        record = clear_lease(log.store, log.pipeline, _highest_epoch(log), utc_now())
        click.echo(
            f"lease of pipeline {log.pipeline} cleared (epoch {record.epoch}); "
            f"the next owner takes over with epoch {record.epoch + 1}"
        )
    finally:
        manager.close()


def register(cli: click.Group) -> None:
    """Add ``unlock`` to the ``checkpoint`` command group of ``cli``."""
    group = cli.commands.get("checkpoint")
    if isinstance(group, click.Group) and "unlock" not in group.commands:
        group.add_command(unlock)
