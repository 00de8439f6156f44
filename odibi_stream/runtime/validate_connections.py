"""``validate --check-connections``: reach every broker and storage a project uses.

Nothing is written and no data is read. Each check has its own timeout and becomes one
``ConfigError`` at the connection's line in ``odibi.yaml`` (or the node's, for a missing topic
or folder) saying what was tried and what answered:

* ``local``: a read path's folder must exist and be readable; a write path's nearest existing
  folder must be writable.
* ``kafka``: the brokers must answer a metadata request; a topic a node reads must exist.
* ``azure_blob`` / ``adls``: the container must exist and accept the credentials.
* the checkpoint store: it must be listable (and, when local, writable).

``eventhub`` connections are reported as not checked here.

Lifecycle: the CLI calls :func:`check_connections` once, after the project compiled; every
client opened here is closed before it returns.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odibi_stream.clients.locations import resolve_location
from odibi_stream.config.project import PROJECT_FILE_KEY, Project
from odibi_stream.config.project_models import ConnectionConfig
from odibi_stream.exceptions import ConfigError, OdibiError
from odibi_stream.runtime.where import project_line, setting_location


@dataclass(frozen=True)
class Use:
    """One place a connection is used: a node's read/write, or a dead letter."""

    connection: str
    pipeline: str
    path: tuple[str | int, ...]
    sub_path: str | None
    topic: str | None
    writes: bool


def uses(project: Project) -> Iterator[Use]:
    """Every use of a connection by the project's pipelines."""
    for name, cfg in project.pipelines.items():
        for i, node in enumerate(cfg.nodes):
            if node.read is not None:
                yield Use(node.read.connection, name, ("nodes", i, "read"), node.read.path,
                          node.read.topic, writes=False)
            if node.write is not None:
                yield Use(node.write.connection, name, ("nodes", i, "write"), node.write.path,
                          node.write.topic, writes=True)
        if cfg.dead_letter is not None:
            yield Use(cfg.dead_letter.connection, name, ("dead_letter",), cfg.dead_letter.path,
                      None, writes=True)


def check_connections(project: Project, timeout: float) -> list[ConfigError]:
    """Reach everything the project uses; one error per problem (see the module)."""
    errors: list[ConfigError] = []
    by_connection: dict[str, list[Use]] = {}
    for use in uses(project):
        by_connection.setdefault(use.connection, []).append(use)
    for name, items in sorted(by_connection.items()):
        conn = project.config.connections[name]
        try:
            if conn.type == "local":
                errors.extend(_local(project, items))
            elif conn.type == "kafka":
                errors.extend(_kafka(project, name, conn, items, timeout))
            elif conn.type in ("azure_blob", "adls"):
                _azure(name, conn, timeout)
        except OdibiError as exc:
            errors.append(_at_connection(project, name, exc.message, exc.hint))
    errors.extend(_checkpoint(project))
    return errors


def _at_connection(project: Project, name: str, message: str, hint: str | None) -> ConfigError:
    return ConfigError(f"connection '{name}': {message}", file=str(project.files.get(PROJECT_FILE_KEY)),
                       line=project_line(project, "connections", name), hint=hint)


def _at_use(project: Project, use: Use, message: str, hint: str | None = None) -> ConfigError:
    file, line = setting_location(project, use.pipeline, *use.path)
    return ConfigError(f"pipeline {use.pipeline}: {message}", file=file, line=line, hint=hint)


# ---------------------------------------------------------------------- local
def _local(project: Project, items: list[Use]) -> list[ConfigError]:
    out = []
    for use in items:
        location = Path(resolve_location(project, use.connection, use.sub_path).uri)
        if use.writes:
            existing = next((p for p in [location, *location.parents] if p.exists()), None)
            if existing is None or not os.access(existing, os.W_OK):
                out.append(_at_use(project, use, f"cannot write under {existing or location}",
                                   "check the folder's permissions (and the container's volume mounts)"))
            continue
        folder = _glob_root(location)
        if not folder.is_dir():
            out.append(_at_use(project, use, f"folder {folder} does not exist",
                               "create it, or fix the connection's base_path / the node's path"))
        elif not os.access(folder, os.R_OK | os.X_OK):
            out.append(_at_use(project, use, f"folder {folder} is not readable"))
    return out


def _glob_root(path: Path) -> Path:
    parts = []
    for part in path.parts:
        if set(part) & set("*?["):
            break
        parts.append(part)
    root = Path(*parts) if parts else Path(".")
    return root if root != path or root.is_dir() else root.parent


# ---------------------------------------------------------------------- kafka
def _kafka(project: Project, name: str, conn: ConnectionConfig, items: list[Use],
           timeout: float) -> list[ConfigError]:
    from odibi_stream.clients.kafka import client_config
    from odibi_stream.core.extras import require_extra

    require_extra("confluent_kafka", "kafka", f"connection '{name}'")
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    conf = client_config(conn.kafka_options().client_config())
    conf.update({"socket.timeout.ms": int(timeout * 1000), "socket.connection.setup.timeout.ms": int(timeout * 1000)})
    admin = AdminClient(conf)
    servers = conf.get("bootstrap.servers")
    try:
        meta = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise ConfigError(f"no answer from the brokers {servers} within {timeout:g} s: {exc.args[0]}",
                          hint="check bootstrap.servers, the network and the security settings") from exc
    out = []
    for use in items:
        if use.writes or not use.topic:
            continue
        for topic in [t.strip() for t in use.topic.split(",") if t.strip()]:
            if topic not in meta.topics:
                out.append(_at_use(project, use, f"topic '{topic}' does not exist on {servers}",
                                   "create it, or fix the node's topic"))
    return out


# ---------------------------------------------------------------------- azure
def _azure(name: str, conn: ConnectionConfig, timeout: float) -> None:
    from odibi_stream.clients.azure import open_container
    from odibi_stream.clients.locations import azure_target

    handle = open_container(azure_target(conn), retry=False, connection_timeout=timeout,
                            read_timeout=timeout)
    try:
        exists = _exists(handle.client)
    finally:
        handle.close()
    if not exists:
        raise ConfigError(f"container '{conn.container}' does not exist at {handle.describe()}",
                          hint="create it, or fix the connection's container")


def _exists(client: Any) -> bool:
    try:
        return bool(client.exists())
    except Exception as exc:  # the SDK's errors: unreachable, refused credentials
        raise ConfigError(f"cannot reach the container: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                          hint="check the endpoint, the account and the auth settings") from exc


# ---------------------------------------------------------------------- checkpoints
def _checkpoint(project: Project) -> list[ConfigError]:
    from odibi_stream.checkpoints.factory import open_store

    file = str(project.files.get(PROJECT_FILE_KEY))
    line = project_line(project, "checkpoint")
    target = project.checkpoint
    if target.scheme == "file":
        root = Path(target.location)
        existing = next((p for p in [root, *root.parents] if p.exists()), None)
        if existing is None or not os.access(existing, os.W_OK):
            return [ConfigError(f"checkpoint root {root}: cannot write under {existing or root}",
                                file=file, line=line, hint="the checkpoint root must be writable")]
        return []
    try:
        store = open_store(target)
        try:
            store.list("")
        finally:
            store.close()
    except OdibiError as exc:
        return [ConfigError(f"checkpoint store: {exc.message}", file=file, line=line, hint=exc.hint)]
    return []
