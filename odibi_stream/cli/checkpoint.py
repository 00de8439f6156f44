"""The ``checkpoint`` command group: inspect and repair a pipeline's checkpoint.

``odibi-stream checkpoint show|history|rewind|reset|skip PROJECT --pipeline NAME``

Lifecycle: :mod:`odibi_stream.cli.main` registers :data:`COMMANDS`. Every command loads the
project (so the checkpoint root and the pipeline name are validated exactly as the daemon sees
them), then works on that pipeline's :class:`~odibi_stream.checkpoints.log.PipelineLog`.
``show`` and ``history`` never modify anything; ``rewind``, ``reset`` and ``skip`` ask for
confirmation unless ``--yes`` and hold the pipeline's lease while they work: they are refused
while a daemon or a ``run`` holds it (``odibi-stream skip PROJECT PIPELINE`` skips through a
running daemon). ``history`` counts rows exactly like the batch log line and ``run``:
:func:`odibi_stream.runtime.report.row_counts`. Errors are raised as
:class:`~odibi_stream.exceptions.OdibiError` and presented by ``main``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from odibi_stream.core.jsonable import jsonable
from odibi_stream.runtime.schema_report import describe_schema_changes, schema_changes

if TYPE_CHECKING:
    from odibi_stream.checkpoints.entries import CommitEntry, OffsetsEntry
    from odibi_stream.checkpoints.log import PipelineLog, Recovery
    from odibi_stream.checkpoints.manager import CheckpointManager
    from odibi_stream.config.project import Project

_ROW_KEYS = ("rows_in", "rows_out", "rejected", "late")


def _common(func: Callable[..., None]) -> Callable[..., None]:
    func = click.option("--env", "env", default=None, help="Environment overlay from odibi.yaml.")(
        func
    )
    func = click.option("--pipeline", "pipeline", required=True, help="Pipeline name.")(func)
    return click.argument("project", type=click.Path(path_type=Path))(func)


def _json_option(func: Callable[..., None]) -> Callable[..., None]:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(
        func
    )


def _yes_option(func: Callable[..., None]) -> Callable[..., None]:
    return click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")(func)


def _open(project: Path, pipeline: str, env: str | None) -> tuple[Any, PipelineLog]:
    """Like :func:`open_log`, also returning the loaded project."""
    from odibi_stream.service.project import load

    loaded = load(project, env=env)
    return loaded, open_log(project, pipeline, env, loaded=loaded)[1]


def open_log(
    project: Path, pipeline: str, env: str | None, *, loaded: Any = None
) -> tuple[CheckpointManager, PipelineLog]:
    """Load PROJECT and return its checkpoint manager and the log of ``pipeline``.

    Raises:
        ConfigError: the project is invalid or has no such pipeline.
    """
    from odibi_stream.checkpoints.manager import CheckpointManager
    from odibi_stream.service.project import load

    loaded = loaded or load(project, env=env)
    name = loaded.pipeline(pipeline).pipeline
    manager = CheckpointManager.open(loaded.checkpoint)
    return manager, manager.log(name)


def _entry(entry: OffsetsEntry | CommitEntry | None) -> dict[str, Any] | None:
    return None if entry is None else jsonable(asdict(entry))


def _echo_json(doc: Any) -> None:
    click.echo(json.dumps(jsonable(doc), indent=2, sort_keys=True))


def _compact(value: Any) -> str:
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"))


def _confirm(yes: bool, question: str) -> None:
    if not yes:
        click.confirm(question, abort=True, err=True)


# ---------------------------------------------------------------------------------- show


def show_document(manager: CheckpointManager, log: PipelineLog) -> dict[str, Any]:
    """Build the ``show`` report (read-only: corrupt entries are reported, not moved)."""
    rec: Recovery = log.recover(quarantine=False)
    last = rec.commits[-1] if rec.commits else None
    snap = rec.snapshot
    nodes = sorted(set(last.sources if last else {}) | set(snap.states if snap else {}))
    sources = {
        n: {
            "committed": last.sources.get(n) if last else None,
            "snapshot": snap.states.get(n) if snap else None,
        }
        for n in nodes
    }
    watermarks = last.watermarks if last else (snap.watermarks if snap else {})
    meta = log.store.read(f"{log.pipeline}/metadata.json")
    return {
        "pipeline": log.pipeline,
        "checkpoint": f"{manager.describe()}/{log.pipeline}",
        "initialised": meta is not None,
        "last_committed": rec.last_committed,
        "last_commit_time": last.committed if last else None,
        "next_batch": rec.next_batch,
        "snapshot_batch": snap.batch if snap else None,
        "retained_commits": len(rec.commits),
        "pending": _entry(rec.pending),
        "sources": sources,
        "watermarks": watermarks,
        "problems": rec.problems,
    }


def _print_show(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=False)
    summary = Table(title=f"checkpoint of pipeline '{doc['pipeline']}'", show_header=False)
    summary.add_column("what", style="bold")
    summary.add_column("value")
    last = doc["last_committed"]
    summary.add_row("location", doc["checkpoint"])
    summary.add_row("last committed batch", "none" if last < 0 else str(last))
    summary.add_row("committed at", str(doc["last_commit_time"] or "-"))
    summary.add_row(
        "snapshot batch", str(doc["snapshot_batch"] if doc["snapshot_batch"] is not None else "-")
    )
    pending = doc["pending"]
    summary.add_row(
        "pending batch",
        f"{pending['batch']} (planned {pending['created']}, will be replayed)"
        if pending
        else "none",
    )
    summary.add_row("next batch", str(doc["next_batch"]))
    console.print(summary)
    positions = Table(title="source positions")
    for col in ("node", "last committed range", "snapshot state", "watermark"):
        positions.add_column(col, overflow="fold")
    for node, pos in doc["sources"].items():
        positions.add_row(
            node,
            _compact(pos["committed"]) if pos["committed"] is not None else "-",
            _compact(pos["snapshot"]) if pos["snapshot"] is not None else "-",
            _compact(doc["watermarks"].get(node)),
        )
    if doc["sources"]:
        console.print(positions)
    if pending:
        console.print(f"pending ranges: {_compact(pending['sources'])}")
    for problem in doc["problems"]:
        console.print(f"[red]problem:[/red] {problem}", markup=True, highlight=False)


@click.command()
@_common
@_json_option
def show(project: Path, pipeline: str, env: str | None, as_json: bool) -> None:
    """Show the last committed batch, source positions, watermarks and any pending batch."""
    manager, log = open_log(project, pipeline, env)
    doc = show_document(manager, log)
    if as_json:
        _echo_json(doc)
    else:
        _print_show(doc)


# ---------------------------------------------------------------------------------- history


def history_rows(
    log: PipelineLog,
    limit: int | None,
    sources: Iterable[str] | None = None,
    sinks: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """One summary row per retained batch, newest first.

    Args:
        log: The pipeline's log.
        limit: Newest N batches.
        sources: The pipeline's incremental source nodes (rows in), None: every node.
        sinks: Its sink nodes (rows out), None: every node.
    """
    rows = []
    for plan, done in log.history(limit):
        either = done or plan
        if done is not None:
            status = "skipped" if done.metrics.get("skipped") else "committed"
        else:
            status = "pending" if plan is not None else "unreadable"
        totals = _row_totals(done, sources, sinks)
        rows.append(
            {
                "batch": either.batch if either else None,
                "status": status,
                "epoch": either.epoch if either else None,
                "planned": plan.created if plan else None,
                "committed": done.committed if done else None,
                "forced": plan.forced if plan else None,
                **{k: totals.get(k) for k in _ROW_KEYS},
                "metrics": done.metrics if done else {},
                "sources": either.sources if either else {},
                "schema_changes": schema_changes(done.nodes) if done else {},
            }
        )
    return rows


def _row_totals(
    done: CommitEntry | None, sources: Iterable[str] | None, sinks: Iterable[str] | None
) -> dict[str, int]:
    from odibi_stream.runtime.report import row_counts

    if done is None:
        return {}
    counts = row_counts(
        done.nodes,
        done.nodes if sources is None else sources,
        done.nodes if sinks is None else sinks,
    )
    return {k: getattr(counts, k) for k in _ROW_KEYS}


def source_and_sink_nodes(project: Project, pipeline: str) -> tuple[list[str], list[str]]:
    """The nodes ``rows_in`` and ``rows_out`` count, as the runtime's batch report counts them.

    From the compiled pipeline (exact); if it does not compile here (a missing extra), from the
    config: read nodes with an incremental source, write nodes.
    """
    from odibi_stream.exceptions import OdibiError
    from odibi_stream.runtime.compile import compile_pipeline

    try:
        compiled = compile_pipeline(project, pipeline)
        return list(compiled.sources), list(compiled.sinks)
    except OdibiError:
        cfg = project.pipeline(pipeline)
        streaming = ("kafka", "eventhub")
        sources = [n.name for n in cfg.nodes if n.read is not None
                   and (n.read.incremental is not None or n.read.format in streaming)]
        return sources, [n.name for n in cfg.nodes if n.write is not None]


@click.command()
@_common
@_json_option
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Newest N batches."
)
def history(project: Path, pipeline: str, env: str | None, as_json: bool, limit: int) -> None:
    """List the retained batches, newest first (rows in: source nodes; rows out: sink nodes)."""
    from rich.console import Console
    from rich.table import Table

    loaded, log = _open(project, pipeline, env)
    sources, sinks = source_and_sink_nodes(loaded, log.pipeline)
    rows = history_rows(log, limit, sources, sinks)
    if as_json:
        _echo_json(rows)
        return
    table = Table(title=f"batches of pipeline '{log.pipeline}' (newest first)")
    for col in ("batch", "status", "epoch", "planned", "committed", *_ROW_KEYS, "schema"):
        table.add_column(col, justify="right" if col in (*_ROW_KEYS, "batch", "epoch") else "left")
    for r in rows:
        cells = [
            r["batch"],
            r["status"],
            r["epoch"],
            r["planned"],
            r["committed"],
            *(r[k] for k in _ROW_KEYS),
            describe_schema_changes(r["schema_changes"]) or None,
        ]
        table.add_row(*("-" if c is None else str(c) for c in cells))
    Console(soft_wrap=False).print(table)


# ---------------------------------------------------------------------------------- repairs


@click.command()
@_common
@_yes_option
@click.option(
    "--to", "to", required=True, type=click.IntRange(min=-1), help="Last batch to keep (-1: none)."
)
def rewind(project: Path, pipeline: str, env: str | None, yes: bool, to: int) -> None:
    """Re-read all input after committed batch --to. Stop the pipeline first.

    Batch numbers keep moving forward (the next batch gets a new number), so every sink writes
    the re-read data again: sinks skip batch numbers they already hold.
    """
    from odibi_stream.runtime.compile import compile_pipeline
    from odibi_stream.runtime.repair import rewind as do_rewind
    from odibi_stream.service.recovery import exclusive

    loaded, log = _open(project, pipeline, env)
    _confirm(yes, f"Rewind pipeline '{log.pipeline}' to batch {to} (input after it is read again)?")
    with exclusive(loaded, log.pipeline):
        live = compile_pipeline(loaded, log.pipeline).open()
        try:
            nxt = do_rewind(live, log, to)
        finally:
            live.close()
    click.echo(f"rewound '{log.pipeline}' to the state after batch {to}: next batch is {nxt}")


@click.command()
@_common
@_yes_option
def reset(project: Path, pipeline: str, env: str | None, yes: bool) -> None:
    """Start the pipeline over from its sources' initial positions. Stop it first.

    Batch numbers keep moving forward, so sinks write the re-read data (see rewind).
    """
    from odibi_stream.runtime.repair import reset as do_reset
    from odibi_stream.service.recovery import exclusive

    loaded, log = _open(project, pipeline, env)
    _confirm(yes, f"Reset pipeline '{log.pipeline}' (all input is read again)?")
    with exclusive(loaded, log.pipeline):
        nxt = do_reset(log)
    click.echo(f"reset '{log.pipeline}': sources start over, next batch is {nxt}")


@click.command()
@_common
@_yes_option
def skip(project: Path, pipeline: str, env: str | None, yes: bool) -> None:
    """Mark the pending batch committed without running it (its input is skipped).

    Refused while a daemon runs the pipeline: use ``odibi-stream skip PROJECT PIPELINE`` then.
    """
    from odibi_stream.service.recovery import exclusive

    loaded, log = _open(project, pipeline, env)
    pending = log.recover().pending
    if pending is not None:
        _confirm(
            yes, f"Skip batch {pending.batch} of '{log.pipeline}' (its input is never processed)?"
        )
    with exclusive(loaded, log.pipeline):
        batch = log.skip()
    click.echo(f"skipped batch {batch} of '{log.pipeline}'")


@click.group()
def checkpoint() -> None:
    """Inspect and repair pipeline checkpoints."""


for _command in (show, history, rewind, reset, skip):
    checkpoint.add_command(_command)

COMMANDS: list[click.Command] = [checkpoint]
