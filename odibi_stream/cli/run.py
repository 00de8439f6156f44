"""``odibi-stream run``: process everything available, in batches, then exit 0.

A pipeline paused with ``odibi-stream pause`` is left alone (and said so). ``--quiet`` prints
only the summary: no per-batch lines, no lease lines (errors still print).
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from odibi_stream.config.project import Project
    from odibi_stream.engines.base import Engine


def pipeline_order(project: Project, only: str | None) -> list[str]:
    """Pipelines to run: ``only`` if given, else all, upstream-of-``after`` first."""
    if only is not None:
        return [project.pipeline(only).pipeline]
    names = list(project.pipelines)
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in ordered or name in path:
            return
        after = project.pipelines[name].trigger.after
        for up in [after] if isinstance(after, str) else (after or []):
            if up in project.pipelines:
                visit(up, (*path, name))
        ordered.append(name)

    for n in names:
        visit(n, ())
    return ordered


def _paused(project: Project) -> set[str]:
    from odibi_stream.checkpoints.manager import CheckpointManager
    from odibi_stream.service.recovery import is_paused

    with CheckpointManager.open(project.checkpoint) as manager:
        return {name for name in project.pipelines if is_paused(manager.store, name)}


@click.command("run")
@click.argument("project_path", metavar="PROJECT", type=click.Path(path_type=Path))
@click.option("--pipeline", "pipeline", default=None, help="Run only this pipeline.")
@click.option("--env", default=None, help="Environment overlay from odibi.yaml.")
@click.option("--max-batches", type=int, default=None, help="Stop each pipeline after this many batches.")
@click.option("--quiet", is_flag=True, help="Print only the summary (no per-batch or lease lines).")
def run_cmd(project_path: Path, pipeline: str | None, env: str | None, max_batches: int | None, quiet: bool) -> None:
    """Process everything available for PROJECT's pipelines, in batches, then exit."""
    from rich.console import Console

    from odibi_stream.api import Runtime
    from odibi_stream.engines import get_engine
    from odibi_stream.service.preflight import check_writable_folders
    from odibi_stream.service.project import load

    project = load(project_path, env=env)
    check_writable_folders(project)  # unwritable state folders: ConfigError (exit 2) up front
    if quiet:
        # Only errors: the summary below is the output (lease waits, batch lines are not).
        logging.getLogger("odibi_stream").setLevel(logging.ERROR)
    console = Console(stderr=False, highlight=False)
    runtime = Runtime(project)
    engines: dict[str, Engine] = {}
    paused = _paused(project)
    try:
        for name in pipeline_order(project, pipeline):
            if name in paused:
                console.print(f"[yellow]‖[/] {name}: paused, not run "
                              f"(odibi-stream resume {project_path} {name})")
                continue
            engine_name = project.pipelines[name].engine or project.config.engine
            if engine_name not in engines:
                engines[engine_name] = get_engine(engine_name, project.config.spark)
            t0 = time.perf_counter()
            status = console.status(f"[bold]{name}[/]: running batches…") if console.is_terminal else nullcontext()
            with status:
                results = runtime.run_once(name, max_batches=max_batches, engine=engines[engine_name])
            rows_in = sum(r.rows_in for r in results)
            rows_out = sum(r.rows_out for r in results)
            rejected = sum(r.rejected for r in results)
            extra = f", {rejected} rejected" if rejected else ""
            console.print(
                f"[green]✓[/] {name}: {len(results)} batch(es), {rows_in} rows in, {rows_out} rows out"
                f"{extra} in {time.perf_counter() - t0:.2f} s"
            )
    finally:
        for engine in engines.values():
            engine.close()


COMMANDS: list[click.Command] = [run_cmd]
