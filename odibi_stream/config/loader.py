"""Loading and validating a whole project folder.

Lifecycle: the CLI (``validate``, ``run``, ``serve``), the daemon's reload and embedding code
call :func:`load_project`. Guarantees: it returns only a fully valid :class:`Project`;
otherwise it raises a :class:`ConfigError` (one problem) or :class:`ConfigErrors` (several),
each positioned as ``file:line`` with a hint. Order of work per file: parse YAML with
positions → (``odibi.yaml``) environment overlay → ``${env:..}``/``${secret:..}`` substitution →
model validation; then cross-file checks (connections, dead-letter targets, pipeline names,
``after`` triggers) and DAG checks. Transform functions are not imported here (the runtime
does that).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from odibi_stream.config.checkpoint_target import CheckpointTarget, resolve_checkpoint
from odibi_stream.config.diagnostics import validation_errors
from odibi_stream.config.graph import dag_errors, find_cycle
from odibi_stream.config.models import PipelineConfig
from odibi_stream.config.overlay import ENVIRONMENTS_KEY, apply_overlay
from odibi_stream.config.paths import checkpoint_path_errors, pipeline_path_errors
from odibi_stream.config.project import PROJECT_FILE_KEY, Project
from odibi_stream.config.project_models import ProjectConfig
from odibi_stream.config.substitute import substitute
from odibi_stream.config.yamlpos import KeyPath, PositionedYaml, line_for, load_yaml
from odibi_stream.core.hints import did_you_mean
from odibi_stream.core.redact import Redactor
from odibi_stream.exceptions import ConfigError, ConfigErrors

PROJECT_FILE = "odibi.yaml"
PIPELINES_DIR = "pipelines"
_INIT_HINT = "run 'odibi-stream init NAME' to create a project, or pass the project folder"


@dataclass(frozen=True)
class _Loaded:
    """One validated pipeline file."""

    config: PipelineConfig
    file: Path
    display: str
    lines: Mapping[KeyPath, int]
    templates: Mapping[KeyPath, str]

    def line(self, *path: str | int) -> int | None:
        return line_for(self.lines, path)

    def error(self, message: str, path: KeyPath, hint: str | None = None) -> ConfigError:
        return ConfigError(message, file=self.display, line=line_for(self.lines, path), hint=hint)


@dataclass
class _Secrets:
    """What substitution found across the project's files (see ``config.substitute``)."""

    values: set[str] = field(default_factory=set)
    references: dict[str, str] = field(default_factory=dict)
    env_names: tuple[str, ...] = ()


def load_project(path: str | Path, env: str | None = None) -> Project:
    """Load, overlay, substitute and validate the project at ``path``.

    Args:
        path: The project folder (or its ``odibi.yaml``).
        env: Environment overlay to apply (a key of ``environments``).

    Raises:
        ConfigError: One problem. ConfigErrors: several (``.errors`` lists them).
    """
    given = Path(path)
    folder = given.parent if given.is_file() else given
    project_file = given if given.is_file() else folder / PROJECT_FILE
    if not project_file.is_file():
        raise ConfigError(
            f"no {PROJECT_FILE} found in '{folder}'", file=str(project_file), hint=_INIT_HINT
        )
    pipelines_dir = folder / PIPELINES_DIR
    if not pipelines_dir.is_dir():
        raise ConfigError(
            f"no '{PIPELINES_DIR}' folder in '{folder}'", file=str(pipelines_dir), hint=_INIT_HINT
        )

    errors: list[ConfigError] = []
    secrets = _Secrets()
    templates: dict[KeyPath, str] = {}
    config, config_lines = _load_project_config(project_file, env, errors, secrets, templates)
    loaded = list(_load_pipelines(pipelines_dir, errors, secrets))
    target = None
    if config is not None:
        target = _checkpoint_target(config, config_lines, project_file, folder, errors)
        errors += checkpoint_path_errors(config, str(project_file), config_lines)
        for item in loaded:
            errors += _connection_errors(item, config)
    for item in loaded:
        errors += _dead_letter_errors(item)
        errors += pipeline_path_errors(item.config, item.display, item.lines)
        errors += dag_errors(item.config, item.display, item.lines)
    unique = _unique_pipelines(loaded, errors)
    errors += _after_errors(unique)
    if errors:
        # The project is not registered with the redactor yet (it failed to load), so its
        # errors are scrubbed here: a secret echoed by a validator shows as its reference.
        scrub = Redactor(secrets.references)
        errors = [scrubbed(e, scrub) for e in errors]
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    assert config is not None and target is not None  # no errors: the project file validated
    root = folder.resolve()
    files = {PROJECT_FILE_KEY: project_file.resolve()}
    files.update({name: item.file.resolve() for name, item in unique.items()})
    return Project(
        root=root,
        config=config,
        checkpoint=target,
        pipelines={name: item.config for name, item in unique.items()},
        files=files,
        env=env,
        lines={name: dict(item.lines) for name, item in unique.items()},
        secrets=frozenset(secrets.values),
        secret_refs=dict(secrets.references),
        templates={
            PROJECT_FILE_KEY: templates,
            **{name: dict(item.templates) for name, item in unique.items()},
        },
    )


def _load_project_config(
    file: Path,
    env: str | None,
    errors: list[ConfigError],
    secrets: _Secrets,
    templates: dict[KeyPath, str],
) -> tuple[ProjectConfig | None, dict[KeyPath, int]]:
    display = str(file)
    lines: dict[KeyPath, int] = {}
    try:
        doc = load_yaml(file, display)
        data, lines = _select_env(doc, env)
        secrets.env_names = _secret_env(data)
        data = substitute(
            data,
            file=display,
            lines=lines,
            skip=lambda p: p[:1] == (ENVIRONMENTS_KEY,),
            secrets=secrets.values,
            references=secrets.references,
            secret_env=secrets.env_names,
            templates=templates,
        )
    except ConfigError as exc:
        errors.append(exc)
        return None, lines
    result = _validate(ProjectConfig, data, display, lines, errors)
    return (result if isinstance(result, ProjectConfig) else None), lines


def _checkpoint_target(
    config: ProjectConfig,
    lines: Mapping[KeyPath, int],
    file: Path,
    folder: Path,
    errors: list[ConfigError],
) -> CheckpointTarget | None:
    key = "connection" if config.checkpoint.connection else "root"
    try:
        return resolve_checkpoint(
            config.checkpoint,
            config.connections,
            folder.resolve(),
            file=str(file),
            line=line_for(lines, ("checkpoint", key)),
        )
    except ConfigError as exc:
        errors.append(exc)
        return None


def _select_env(doc: PositionedYaml, env: str | None) -> tuple[Any, dict[KeyPath, int]]:
    data = doc.data
    if env is None or not isinstance(data, dict):
        return data, dict(doc.lines)
    envs = data.get(ENVIRONMENTS_KEY)
    if not isinstance(envs, dict) or env not in envs:
        known = sorted(envs) if isinstance(envs, dict) else []
        hint = (
            (did_you_mean(env, known) or f"known environments: {', '.join(known)}")
            if known
            else (
                f"this project defines no environments; add '{ENVIRONMENTS_KEY}: {{{env}: {{...}}}}' to {PROJECT_FILE}"
            )
        )
        raise ConfigError(
            f"unknown environment '{env}'",
            file=doc.file,
            line=doc.line_for((ENVIRONMENTS_KEY,)),
            hint=hint,
        )
    if envs[env] is not None and not isinstance(envs[env], dict):
        raise ConfigError(
            f"environment '{env}' must be a mapping",
            file=doc.file,
            line=doc.line_for((ENVIRONMENTS_KEY, env)),
        )
    return apply_overlay(data, doc.lines, env)


def _secret_env(data: Any) -> tuple[str, ...]:
    """``secret_env`` names, read before substitution (they decide how it treats ``${env:..}``)."""
    names = data.get("secret_env") if isinstance(data, dict) else None
    return tuple(n for n in names if isinstance(n, str)) if isinstance(names, list) else ()


def _load_pipelines(folder: Path, errors: list[ConfigError], secrets: _Secrets) -> Iterator[_Loaded]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))
    for file in files:
        display = str(folder / file.name)
        templates: dict[KeyPath, str] = {}
        try:
            doc = load_yaml(file, display)
            data = substitute(
                doc.data,
                file=display,
                lines=doc.lines,
                secrets=secrets.values,
                references=secrets.references,
                secret_env=secrets.env_names,
                templates=templates,
            )
        except ConfigError as exc:
            errors.append(exc)
            continue
        result = _validate(PipelineConfig, data, display, doc.lines, errors)
        if isinstance(result, PipelineConfig):
            yield _Loaded(result, file, display, doc.lines, templates)


def scrubbed(error: ConfigError, redactor: Redactor) -> ConfigError:
    """``error`` with its message and hint passed through ``redactor`` (same type and place)."""
    message, hint = redactor.redact(error.message), error.hint and redactor.redact(error.hint)
    if message == error.message and hint == error.hint:
        return error
    clean = copy.copy(error)
    clean.message, clean.hint, clean.args = message, hint, (message,)
    return clean


def _validate(
    model: type[BaseModel],
    data: Any,
    file: str,
    lines: Mapping[KeyPath, int],
    errors: list[ConfigError],
) -> BaseModel | None:
    if not isinstance(data, dict):
        errors.append(
            ConfigError(
                "expected a mapping at the top of the file", file=file, line=lines.get((), 1)
            )
        )
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors.extend(validation_errors(exc, model, file, lines, data))
        return None


def _connection_errors(item: _Loaded, project: ProjectConfig) -> list[ConfigError]:
    known = sorted(project.connections)
    refs: list[tuple[str, KeyPath]] = []
    for i, node in enumerate(item.config.nodes):
        if node.read is not None:
            refs.append((node.read.connection, ("nodes", i, "read", "connection")))
        if node.write is not None:
            refs.append((node.write.connection, ("nodes", i, "write", "connection")))
    if item.config.dead_letter is not None:
        refs.append((item.config.dead_letter.connection, ("dead_letter", "connection")))
    out = []
    for name, path in refs:
        if name not in project.connections:
            listing = (
                f"known connections: {', '.join(known)}"
                if known
                else f"define connections in {PROJECT_FILE}"
            )
            hint = did_you_mean(name, known) or listing
            out.append(item.error(f"unknown connection '{name}'", path, hint))
    return out


def _dead_letter_errors(item: _Loaded) -> list[ConfigError]:
    pipeline = item.config
    if pipeline.dead_letter is not None:
        return []
    wanted: list[tuple[str, KeyPath]] = []
    if pipeline.on_error == "dead_letter":
        wanted.append(("on_error: dead_letter", ("on_error",)))
    for i, node in enumerate(pipeline.nodes):
        if node.on_error == "dead_letter":
            wanted.append(
                (f"node '{node.name}' has on_error: dead_letter", ("nodes", i, "on_error"))
            )
        if (
            node.read is not None
            and node.read.watermark is not None
            and node.read.watermark.late == "dead_letter"
        ):
            path: KeyPath = ("nodes", i, "read", "watermark", "late")
            wanted.append((f"node '{node.name}' has watermark late: dead_letter", path))
    hint = "add a pipeline-level 'dead_letter: {connection: ..., path: ...}' section"
    return [
        item.error(f"{what} but the pipeline has no dead_letter target", path, hint)
        for what, path in wanted
    ]


def _unique_pipelines(loaded: list[_Loaded], errors: list[ConfigError]) -> dict[str, _Loaded]:
    unique: dict[str, _Loaded] = {}
    for item in loaded:
        name = item.config.pipeline
        if name in unique:
            hint = f"it is also defined in {unique[name].display}; pipeline names must be unique"
            errors.append(item.error(f"duplicate pipeline name '{name}'", ("pipeline",), hint))
            continue
        unique[name] = item
    return unique


def _after_errors(pipelines: dict[str, _Loaded]) -> list[ConfigError]:
    out: list[ConfigError] = []
    known = list(pipelines)
    edges: dict[str, list[str]] = {}
    for name, item in pipelines.items():
        after = item.config.trigger.after
        if after is None:
            continue
        targets = [after] if isinstance(after, str) else list(after)
        edges[name] = targets
        for k, target in enumerate(targets):
            path: KeyPath = (
                ("trigger", "after") if isinstance(after, str) else ("trigger", "after", k)
            )
            if target == name:
                out.append(item.error(f"pipeline '{name}' cannot be triggered after itself", path))
            elif target not in pipelines:
                hint = did_you_mean(target, known) or f"known pipelines: {', '.join(known)}"
                out.append(
                    item.error(f"'after' trigger names unknown pipeline '{target}'", path, hint)
                )
    cycle = find_cycle({n: [t for t in ts if t != n] for n, ts in edges.items()})
    if cycle:
        item = pipelines[cycle[0]]
        out.append(
            item.error(
                f"'after' triggers form a cycle: {' -> '.join(cycle)}",
                ("trigger", "after"),
                "a pipeline chain triggered this way would never stop; break the cycle",
            )
        )
    return out
