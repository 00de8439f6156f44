"""Giving compile-time errors a ``file:line``: the YAML line of the setting that caused them.

Connectors, engines and the transform registry raise ``ConfigError``/``TransformError`` without
knowing which file they were configured in. :func:`located` wraps the compilation of one
setting (a node's ``read``, its ``transform.function``, its ``write``, the trigger, the dead
letter) and re-raises such an error as a ``ConfigError`` at that setting's line, keeping the
message and hint; an error that already has a file is left alone.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from odibi_stream.config.project import PROJECT_FILE_KEY, Project
from odibi_stream.config.yamlpos import load_yaml
from odibi_stream.exceptions import ConfigError, ConfigErrors, TransformError


def setting_location(project: Project, pipeline: str, *path: str | int) -> tuple[str | None, int | None]:
    """``(file, line)`` of ``path`` in ``pipeline``'s YAML (as much as is known)."""
    file = project.files.get(pipeline)
    return (str(file) if file else None), project.line(pipeline, *path)


def project_line(project: Project, *path: str | int) -> int | None:
    """Line of ``path`` in ``odibi.yaml`` (error paths only: the file is parsed again)."""
    file = project.files.get(PROJECT_FILE_KEY)
    if file is None:
        return None
    try:
        return load_yaml(file).line_for(path)
    except ConfigError:
        return None


def summarise(exc: BaseException) -> str:
    """``Type: message (file:line)`` of the innermost frame outside the import machinery."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "importlib" not in f.filename and not f.filename.startswith("<frozen")]
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f" ({exc.filename}:{exc.lineno})"
    return f"{type(exc).__name__}: {exc}{where}"


@contextmanager
def located(project: Project, pipeline: str, *path: str | int, user_code: bool = False) -> Iterator[None]:
    """Re-raise errors inside as ``ConfigError`` at ``path``'s line (see the module).

    Args:
        project: The project.
        pipeline: The pipeline being compiled.
        path: The setting's key path, e.g. ``"nodes", 2, "read"``.
        user_code: The block imports user code: any exception is a config error here.
    """
    try:
        yield
    except ConfigErrors:
        raise
    except (ConfigError, TransformError) as exc:
        if isinstance(exc, ConfigError) and exc.file is not None:
            raise
        # A connector may name the offending setting inside the section (``exc.keys``, e.g.
        # ``("options", "starting")``): the longest known prefix gives the line.
        keys = tuple(getattr(exc, "keys", ()))
        file, line = setting_location(project, pipeline, *path, *keys)
        raise ConfigError(exc.message, file=file, line=line, hint=exc.hint) from exc
    except Exception as exc:
        if not user_code:
            raise
        file, line = setting_location(project, pipeline, *path)
        raise ConfigError(f"importing the transform failed: {summarise(exc)}", file=file, line=line,
                          hint="fix the module; the project folder is on sys.path") from exc
