"""Project commands: ``init``, ``validate``, ``graph``, ``schema``.

Lifecycle: :mod:`odibi_stream.cli.main` registers :data:`COMMANDS` on the ``odibi-stream``
group. Errors are raised as :class:`~odibi_stream.exceptions.OdibiError` and presented by
``main`` (``file:line: message`` + ``hint:``, exit 2 for configuration errors).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from odibi_stream.config.schema import pipeline_schema, project_schema
from odibi_stream.dag.graph import build_dag, to_mermaid, to_text
from odibi_stream.service.project import load

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
def validate(project: Path, env: str | None) -> None:
    """Validate PROJECT: load it and compile every pipeline exactly as ``run``/``serve`` would."""
    from odibi_stream.service.project import validate as compile_all

    loaded = load(project, env=env)
    compile_all(loaded)
    names = list(loaded.pipelines)
    noun = "pipeline" if len(names) == 1 else "pipelines"
    suffix = f" ({', '.join(names)})" if names else ""
    click.echo(f"ok: {len(names)} {noun}{suffix}")


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
    data = project_schema() if kind == "project" else pipeline_schema()
    click.echo(json.dumps(data, indent=2))


COMMANDS: list[click.Command] = [init, validate, graph, schema]
