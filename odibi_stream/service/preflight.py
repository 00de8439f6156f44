"""Start-up checks: every folder the daemon will write must be writable, before anything starts.

A deployed daemon typically runs as an unprivileged user with a read-only project folder (a
container's bind mount or ConfigMap, a systemd ``ProtectSystem=strict`` sandbox). Writing into
a folder it cannot write used to surface as a ``PermissionError`` traceback from deep inside
the first batch; this module turns it into a :class:`ConfigError` naming the folder, the
setting that put it there (``odibi.yaml:line``) and what to do.

Lifecycle contract:
    * Called once by the daemon's constructor (after the project compiled, before any lease,
      thread or socket) and by ``odibi-stream run`` before its first batch, via
      :func:`check_writable_folders`; ``odibi-stream validate`` and reloads do not call it
      (validating a project must not need its production volumes).
    * Side effect: creates missing folders (the daemon would on first use anyway) and, in each,
      creates and removes one empty temporary file.
    * Guarantees: on return every checked folder exists and this process could create a file in
      it; otherwise :class:`ConfigError` for the first folder that failed.

Checked: the checkpoint folder (a ``file`` checkpoint target; Azure and memory stores have no
folder here), and the base folder of every ``local`` connection a pipeline writes through
(sinks, dead letters, files archived or deleted after a read). Folders that are only read are
not checked: a read-only landing mount is legitimate.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from odibi_stream.clients.locations import resolve_location
from odibi_stream.config.models import PipelineConfig
from odibi_stream.config.overlay import apply_overlay
from odibi_stream.config.project import PROJECT_FILE_KEY, Project
from odibi_stream.config.yamlpos import KeyPath, line_for, load_yaml
from odibi_stream.exceptions import ConfigError

HINT = (
    "give the daemon a writable folder there: a volume in a container (see deploy/README.md), "
    "a StateDirectory under systemd, or point the setting elsewhere (e.g. --env container)"
)


@dataclass(frozen=True)
class Target:
    """A folder the daemon writes.

    Attributes:
        what: What it holds, for the message (``checkpoint root``, ``connection 'local'``).
        path: Absolute folder path.
        key: Key path of the setting in ``odibi.yaml`` that decides the folder.
        mode: Permissions the folder gets if it is created here (None: the umask decides).
    """

    what: str
    path: Path
    key: KeyPath
    mode: int | None = None


def check_writable_folders(project: Project) -> None:
    """Create and probe every folder the daemon writes (see the module contract).

    Raises:
        ConfigError: A folder cannot be created or written; ``file:line`` is the setting.
    """
    lines: Mapping[KeyPath, int] | None = None
    for target in writable_targets(project):
        problem = _probe(target.path, target.mode)
        if problem is None:
            continue
        if lines is None:
            lines = _project_lines(project)
        raise ConfigError(
            f"{target.what} '{target.path}' is not writable by uid {_uid()}: {problem}",
            file=str(project.files.get(PROJECT_FILE_KEY, project.root / "odibi.yaml")),
            line=line_for(lines, target.key),
            hint=HINT,
        )


def writable_targets(project: Project) -> list[Target]:
    """The folders :func:`check_writable_folders` probes, checkpoint folder first, no duplicates."""
    targets: list[Target] = []
    if project.checkpoint.scheme == "file":
        key: KeyPath = ("checkpoint", "path") if project.checkpoint.connection else ("checkpoint", "root")
        ckpt = project.checkpoint
        targets.append(Target("checkpoint root", Path(ckpt.location), key, ckpt.dir_mode))
    seen = {t.path for t in targets}
    for name in sorted(set(_written_connections(project.pipelines.values()))):
        conn = project.config.connections.get(name)
        if conn is None or conn.type != "local":
            continue
        path = Path(resolve_location(project, name, None).uri)
        if path not in seen:
            seen.add(path)
            conn_key: KeyPath = ("connections", name, "base_path") if conn.base_path else ("connections", name)
            targets.append(Target(f"the folder of connection '{name}'", path, conn_key))
    return targets


def _written_connections(pipelines: Iterable[PipelineConfig]) -> Iterator[str]:
    for pipeline in pipelines:
        if pipeline.dead_letter is not None:
            yield pipeline.dead_letter.connection
        for node in pipeline.nodes:
            if node.write is not None:
                yield node.write.connection
            read = node.read
            if read is not None and read.incremental is not None and read.incremental.after_read != "keep":
                yield read.connection


def _probe(path: Path, mode: int | None = None) -> str | None:
    """None if ``path`` exists (or could be created) and takes a new file; else the reason."""
    try:
        if mode is not None and not path.exists():
            path.mkdir(parents=True, exist_ok=True, mode=mode)
            with contextlib.suppress(PermissionError):  # exactly the setting, whatever the umask
                os.chmod(path, mode)
        path.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".odibi-write-check-", dir=path)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(fd)
    os.unlink(name)
    return None


def _project_lines(project: Project) -> Mapping[KeyPath, int]:
    """Key path → line of ``odibi.yaml`` as the daemon saw it (overlay applied); {} if unknown."""
    file = project.files.get(PROJECT_FILE_KEY)
    if file is None:
        return {}
    try:
        doc = load_yaml(Path(file))
    except (OSError, ConfigError):
        return {}
    if project.env and isinstance(doc.data, dict):
        _, lines = apply_overlay(doc.data, doc.lines, project.env)
        return lines
    return doc.lines


def _uid() -> int | str:
    getuid = getattr(os, "getuid", None)
    return getuid() if getuid is not None else "?"
