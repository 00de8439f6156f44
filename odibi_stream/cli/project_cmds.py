"""Project commands: ``init``, ``validate``, ``graph``, ``schema``.

Lifecycle: :mod:`odibi_stream.cli.main` registers :data:`COMMANDS` on the ``odibi-stream``
group. Errors are raised as :class:`~odibi_stream.exceptions.OdibiError` and presented by
``main`` (``file:line: message`` + ``hint:``, exit 2 for configuration errors).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

_ENV_OPTION = click.option(
    "--env", "env", default=None, help="Environment overlay from odibi.yaml."
)


@click.command()
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder in which to create NAME.",
)
def init(name: str, directory: Path) -> None:
    """Create a working example project in folder NAME."""
    from odibi_stream.cli.scaffold import create_project

    target = directory / name
    created = create_project(target)
    click.echo(f"created project '{target}':")
    for path in created:
        click.echo(f"  {path.relative_to(target)}")
    click.echo(f"next: odibi-stream validate {target}")


@click.command()
@click.argument("project", type=click.Path(path_type=Path))
@_ENV_OPTION
@click.option(
    "--sample",
    is_flag=True,
    help="Take each read node's columns from a present input file (reads one file per node).",
)
@click.option(
    "--check-connections",
    "check_connections",
    is_flag=True,
    help="Also reach every broker and storage the project uses (nothing is written).",
)
@click.option(
    "--timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds allowed per connection check.",
)
def validate(
    project: Path, env: str | None, sample: bool, check_connections: bool, timeout: float
) -> None:
    """Prove PROJECT will run, without touching data.

    Compiles every pipeline exactly as ``run``/``serve`` would (connections, formats, extras,
    transforms, triggers, dead letters), then binds every SQL transform and check on the
    pipeline's engine against the upstream columns (declared ``schema`` options, or with
    ``--sample`` a present input file). Errors: ``file:line: message`` + hint, exit 2.
    """
    from odibi_stream.service.project import AllEngines, inspect, load

    loaded = load(project, env=env)
    with AllEngines(loaded) as engines:
        findings = inspect(loaded, engines=engines, sample=sample)
    if check_connections:
        from odibi_stream.runtime.validate_connections import check_connections as reach

        findings.errors.extend(reach(loaded, timeout))
    for note in findings.notes:
        click.echo(f"note: {note}")
    findings.raise_errors()
    names = list(loaded.pipelines)
    noun = "pipeline" if len(names) == 1 else "pipelines"
    suffix = f" ({', '.join(names)})" if names else ""
    click.echo(f"ok: {len(names)} {noun}{suffix}")
    if check_connections:
        click.echo("ok: every connection answered")


@click.command()
@click.argument("project", type=click.Path(path_type=Path))
@click.option("--pipeline", "pipeline", default=None, help="Only this pipeline (default: all).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "mermaid"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@_ENV_OPTION
def graph(project: Path, pipeline: str | None, fmt: str, env: str | None) -> None:
    """Print the node graph of PROJECT's pipelines."""
    from odibi_stream.dag.graph import build_dag, to_mermaid, to_text
    from odibi_stream.service.project import load

    loaded = load(project, env=env)
    names = [loaded.pipeline(pipeline).pipeline] if pipeline else list(loaded.pipelines)
    render = to_mermaid if fmt == "mermaid" else to_text
    blocks = []
    for name in names:
        dag = build_dag(loaded.pipeline(name), loaded.files[name])
        text = render(dag)
        blocks.append(
            f"%% pipeline {name}\n{text}" if fmt == "mermaid" and len(names) > 1 else text
        )
    click.echo("\n\n".join(blocks))


@click.command()
@click.option(
    "--kind",
    type=click.Choice(["project", "pipeline"]),
    default="pipeline",
    show_default=True,
    help="Which file's schema.",
)
def schema(kind: str) -> None:
    """Print the JSON Schema of odibi.yaml (project) or a pipeline file."""
    from odibi_stream.config.schema import pipeline_schema, project_schema

    data = project_schema() if kind == "project" else pipeline_schema()
    click.echo(json.dumps(data, indent=2))


COMMANDS: list[click.Command] = [init, validate, graph, schema]
