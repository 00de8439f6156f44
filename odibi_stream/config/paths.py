"""Path containment: every path a config names stays inside its connection.

Node paths (``read.path``, ``write.path``, ``incremental.archive_path``), the dead-letter
``path`` and a checkpoint ``path`` under a connection are *relative to their connection's
root*. A path that is absolute (``/x``, ``C:\\x``, ``~/x``), a URL, or that contains a ``..``
component could reach outside that root (or be silently re-rooted under it), so the loader
refuses it with the setting's ``file:line`` — the config author is trusted, but a mistake must
not write or read somewhere unexpected.

Lifecycle: the project loader calls :func:`pipeline_path_errors` for every pipeline file and
:func:`checkpoint_path_errors` for ``odibi.yaml``, before anything is compiled.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from odibi_stream.config.models import PipelineConfig
from odibi_stream.config.project_models import ProjectConfig
from odibi_stream.config.yamlpos import KeyPath, line_for
from odibi_stream.exceptions import ConfigError

_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot be a connection-relative path (None if it can)."""
    if _URL.match(path):
        return "is a URL; paths are relative to their connection (put the location in the connection)"
    if path.startswith(("/", "\\", "~")) or _DRIVE.match(path):
        return "is absolute; paths are relative to their connection's base_path"
    if ".." in re.split(r"[\\/]", path):
        return "contains '..' and could leave its connection"
    return None


def _named_paths(pipeline: PipelineConfig) -> Iterator[tuple[str, KeyPath]]:
    for i, node in enumerate(pipeline.nodes):
        if node.read is not None:
            if node.read.path:
                yield node.read.path, ("nodes", i, "read", "path")
            inc = node.read.incremental
            if inc is not None and inc.archive_path:
                yield inc.archive_path, ("nodes", i, "read", "incremental", "archive_path")
        if node.write is not None and node.write.path:
            yield node.write.path, ("nodes", i, "write", "path")
    if pipeline.dead_letter is not None and pipeline.dead_letter.path:
        yield pipeline.dead_letter.path, ("dead_letter", "path")


def pipeline_path_errors(
    pipeline: PipelineConfig, file: str, lines: Mapping[KeyPath, int]
) -> list[ConfigError]:
    """One error per path of ``pipeline`` that is not inside its connection."""
    out = []
    for path, where in _named_paths(pipeline):
        problem = path_problem(path)
        if problem is not None:
            out.append(_error(path, problem, file, line_for(lines, where)))
    return out


def checkpoint_path_errors(
    config: ProjectConfig, file: str, lines: Mapping[KeyPath, int]
) -> list[ConfigError]:
    """An error if ``checkpoint.path`` (under a connection) is not inside that connection."""
    path = config.checkpoint.path
    if config.checkpoint.connection is None or not path:
        return []
    problem = path_problem(path)
    if problem is None:
        return []
    return [_error(path, problem, file, line_for(lines, ("checkpoint", "path")))]


def _error(path: str, problem: str, file: str, line: int | None) -> ConfigError:
    return ConfigError(
        f"path '{path}' {problem}",
        file=file,
        line=line,
        hint="write the path relative to the connection (e.g. landing/orders/*.csv); "
        "to use another folder, define a connection whose base_path is that folder",
    )
