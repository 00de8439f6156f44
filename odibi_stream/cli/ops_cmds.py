"""``odibi-stream story`` and ``odibi-stream maintain``: batch stories and Delta table maintenance.

``story PROJECT --pipeline P [--batch N] [--format json|html|text] [--list]`` reads the stories
kept next to the checkpoint (``service.history``); ``maintain PROJECT [--pipeline P]`` runs
every Delta table maintenance operation now, under each pipeline's lease
(``service.maintain``). Errors are OdibiErrors, presented by ``cli.main``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from odibi_stream.exceptions import CheckpointError


@click.command("story")
@click.argument("project", type=click.Path(path_type=Path))
@click.option("--pipeline", "pipeline", required=True, help="Pipeline name.")
@click.option("--batch", "batch", type=int, default=None, help="Batch number (default: the newest story).")
@click.option("--format", "fmt", type=click.Choice(["json", "html", "text"]), default="text", show_default=True,
              help="Output format.")
@click.option("--list", "as_list", is_flag=True, help="List the newest stories instead (one line each).")
@click.option("--limit", type=int, default=20, show_default=True, help="Stories listed with --list.")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None, help="Write to this file.")
@click.option("--env", default=None, help="Environment overlay from odibi.yaml.")
def story_cmd(project: Path, pipeline: str, batch: int | None, fmt: str, as_list: bool, limit: int,
              output: Path | None, env: str | None) -> None:
    """Show what a batch of PIPELINE did: inputs, nodes, steps, outputs, dead letters, errors."""
    from odibi_stream.checkpoints.manager import CheckpointManager
    from odibi_stream.observability.story_render import render_html, render_text
    from odibi_stream.service.history import StoryStore
    from odibi_stream.service.project import load

    loaded = load(project, env=env)
    name = loaded.pipeline(pipeline).pipeline
    with CheckpointManager.open(loaded.checkpoint) as checkpoints:
        stories = StoryStore(checkpoints.store, loaded.config.checkpoint.retain_batches)
        if as_list:
            _emit(_listing(stories.summaries(name, limit), fmt), output)
            return
        found = _find(stories, name, batch)
    text = json.dumps(found, indent=2, sort_keys=True) if fmt == "json" else (
        render_html(found) if fmt == "html" else render_text(found))
    _emit(text, output)


def _find(stories: Any, name: str, batch: int | None) -> dict[str, Any]:
    if batch is None:
        entries = stories.entries(name)
        if not entries:
            raise CheckpointError(f"pipeline {name} has no stories yet",
                                  hint="stories are written for every batch run by serve or run")
        batch = entries[-1][0]
    found = stories.read(name, batch)
    if found is None:
        raise CheckpointError(f"pipeline {name} has no story of batch {batch}",
                              hint=f"stories of the last checkpoint.retain_batches ({stories.retain}) batches are kept; "
                              f"list them with --list")
    return dict(found)


def _listing(lines: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(lines, indent=2)
    out = []
    for s in lines:
        tail = f" error {s['error']}" if s.get("error") else ""
        out.append(f"#{s['batch']:<6} {s['status']:<9} {s['finished'] or '':<32} {s['rows_in']:>8} in "
                   f"{s['rows_out']:>8} out {s['duration_ms']:>10.1f} ms{tail}")
    return "\n".join(out) if out else "no stories"


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
        click.echo(f"wrote {output}")


@click.command("maintain")
@click.argument("project", type=click.Path(path_type=Path))
@click.option("--pipeline", "pipeline", default=None, help="Only this pipeline (default: all).")
@click.option("--wait", type=float, default=None, help="Seconds to wait for a pipeline's lease (default: one TTL).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--env", default=None, help="Environment overlay from odibi.yaml.")
def maintain_cmd(project: Path, pipeline: str | None, wait: float | None, as_json: bool, env: str | None) -> None:
    """Compact, vacuum and checkpoint the Delta tables of PROJECT's pipelines now.

    Uses each sink's maintenance: settings (or the project default); a Delta sink without any
    gets optimize (128MB), vacuum (7d retention) and a log checkpoint. Needs the pipeline's lease:
    a running daemon does its pipelines' maintenance itself, between batches.
    """
    from odibi_stream.service.maintain import maintain_pipeline
    from odibi_stream.service.project import load

    loaded = load(project, env=env)
    names = [loaded.pipeline(pipeline).pipeline] if pipeline else list(loaded.pipelines)
    results: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        results[name] = maintain_pipeline(loaded, name, wait=wait)
        if not as_json:
            _print_results(name, results[name])
    if as_json:
        click.echo(json.dumps(results, indent=2, sort_keys=True))
    failed = [r for rs in results.values() for r in rs if r.get("error")]
    if failed:
        raise CheckpointError(f"{len(failed)} maintenance operation(s) failed",
                              hint="see the errors above; nothing was lost, the tables are as before")


def _print_results(name: str, results: list[dict[str, Any]]) -> None:
    if not results:
        click.echo(f"{name}: no Delta tables")
        return
    for r in results:
        if r.get("error"):
            click.echo(f"{name} {r['node']} {r['operation']}: FAILED {r['error']}")
            continue
        extra = f", {r['files_deleted']} file(s) deleted" if "files_deleted" in r else ""
        click.echo(f"{name} {r['node']} {r['operation']}: files {r.get('files_before')} -> {r.get('files_after')}"
                   f"{extra}, version {r.get('version')}, {r.get('duration_ms')} ms")


COMMANDS: list[click.Command] = [story_cmd, maintain_cmd]
