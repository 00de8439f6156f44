"""``odibi-stream run``: process everything available, in batches, then exit 0."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console

from odibi_stream.checkpoints.manager import CheckpointManager
from odibi_stream.config.loader import load_project
from odibi_stream.config.project import Project
from odibi_stream.engines import get_engine
from odibi_stream.runtime.runner import BatchResult, PipelineRunner


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


def _line(result: BatchResult) -> str:
    tag = " (replayed)" if result.replayed else ""
    extra = ""
    if result.rejected:
        extra += f", {result.rejected} rejected"
    if result.late:
        extra += f", {result.late} late"
    return (
        f"  batch {result.batch}{tag}: {result.rows_in} rows in → {result.rows_out} rows out{extra} "
        f"[{result.duration_ms:.0f} ms, checkpoint {result.commit_ms:.1f} ms]"
    )


@click.command("run")
@click.argument("project_path", metavar="PROJECT", type=click.Path(path_type=Path))
@click.option("--pipeline", "pipeline", default=None, help="Run only this pipeline.")
@click.option("--env", default=None, help="Environment overlay from odibi.yaml.")
@click.option("--max-batches", type=int, default=None, help="Stop each pipeline after this many batches.")
@click.option("--quiet", is_flag=True, help="Print only the summary.")
def run_cmd(project_path: Path, pipeline: str | None, env: str | None, max_batches: int | None, quiet: bool) -> None:
    """Process everything available for PROJECT's pipelines, in batches, then exit."""
    project = load_project(project_path, env=env)
    console = Console(stderr=False, highlight=False)
    manager = CheckpointManager(project.checkpoint_root())
    engines = {}
    try:
        for name in pipeline_order(project, pipeline):
            engine_name = project.pipelines[name].engine or project.config.engine
            if engine_name not in engines:
                engines[engine_name] = get_engine(engine_name, project.config.spark)
            runner = PipelineRunner(project, name, engine=engines[engine_name], checkpoints=manager)
            t0 = time.perf_counter()
            results: list[BatchResult] = []
            with console.status(f"[bold]{name}[/]: running batches…", spinner="dots") if not quiet else _null():
                if not runner.has_incremental_sources():
                    forced = runner.run_batch(force=True)
                    results.extend([forced] if forced else [])
                while max_batches is None or len(results) < max_batches:
                    left = None if max_batches is None else max_batches - len(results)
                    chunk = runner.run_available(max_batches=1 if left is None else min(left, 1))
                    if not chunk:
                        break
                    results.extend(chunk)
                    if not quiet:
                        console.print(_line(chunk[0]))
            rows_in = sum(r.rows_in for r in results)
            rows_out = sum(r.rows_out for r in results)
            console.print(
                f"[green]✓[/] {name}: {len(results)} batch(es), {rows_in} rows in, {rows_out} rows out "
                f"in {time.perf_counter() - t0:.2f} s"
            )
    finally:
        for engine in engines.values():
            engine.close()


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


COMMANDS: list[click.Command] = [run_cmd]
