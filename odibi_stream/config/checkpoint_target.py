"""Resolving ``checkpoint:`` into one typed :class:`CheckpointTarget` — the only place that does.

``checkpoint: {root: ...}`` accepts a folder (relative to the project), ``file://``,
``memory://NAME`` (an in-process store: tests and embedding) or an Azure URI
(``abfss://container@account.dfs.core.windows.net/prefix``, ``az://container/prefix``);
``checkpoint: {connection: NAME, path: ...}`` names a connection instead. Anything else is a
:class:`ConfigError` at load (``validate``) time, with the file and line of the setting: a root
this build cannot serve must never become a local folder named after a URL.

Lifecycle: the project loader resolves the target once while validating; the store factory
(``odibi_stream.checkpoints.factory.open_store``) turns it into a store for ``run``, ``serve``,
the API and the ``checkpoint`` CLI alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from odibi_stream.config.project_models import CheckpointConfig, ConnectionConfig
from odibi_stream.exceptions import ConfigError

DEFAULT_ROOT = "./checkpoints"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$")
_AZURE_SCHEMES = frozenset({"az", "abfs", "abfss", "wasb", "wasbs"})
_ABFS = re.compile(r"^(?P<container>[^@/]+)@(?P<account>[^./]+)\.(?:dfs|blob)\.[^/]+(?:/(?P<prefix>.*))?$")
_HINT = "use a folder, file://..., memory://NAME, abfss://container@account.dfs.core.windows.net/path, or {connection: NAME, path: ...}"


@dataclass(frozen=True)
class CheckpointTarget:
    """Where a project's checkpoints live.

    Attributes:
        scheme: ``file`` (a local or mounted folder), ``memory`` (in-process) or ``azure``.
        location: The absolute folder, the memory store's name, or the prefix inside the
            Azure container.
        account: Azure storage account (``azure`` only; None when the connection names it).
        container: Azure container (``azure`` only).
        connection: The Azure connection whose endpoint and ``auth`` the store uses, if any.
        file_mode: Permissions of checkpoint files a local store creates.
        dir_mode: Permissions of checkpoint folders a local store creates.
    """

    scheme: Literal["file", "memory", "azure"]
    location: str
    account: str | None = None
    container: str | None = None
    connection: ConnectionConfig | None = None
    file_mode: int = 0o600
    dir_mode: int = 0o700

    def describe(self) -> str:
        """A printable location without secrets (``file:///abs``, ``az://c/prefix``)."""
        if self.scheme == "file":
            return Path(self.location).as_uri()
        if self.scheme == "memory":
            return f"memory://{self.location}"
        return f"az://{self.container}/{self.location}".rstrip("/")


def resolve_checkpoint(
    cfg: CheckpointConfig,
    connections: dict[str, ConnectionConfig],
    project_root: Path,
    *,
    file: str | None = None,
    line: int | None = None,
) -> CheckpointTarget:
    """Resolve ``cfg`` (from ``odibi.yaml``) into a target.

    Raises:
        ConfigError: an unknown scheme, a malformed Azure URI, an unknown or unsuitable
            connection — positioned at ``file:line``.
    """
    target = _resolve(cfg, connections, project_root, file, line)
    return replace(target, file_mode=int(cfg.file_mode, 8), dir_mode=int(cfg.dir_mode, 8))


def _resolve(
    cfg: CheckpointConfig,
    connections: dict[str, ConnectionConfig],
    project_root: Path,
    file: str | None,
    line: int | None,
) -> CheckpointTarget:
    if cfg.connection is not None:
        return _from_connection(cfg, connections, project_root, file, line)
    root = cfg.root or DEFAULT_ROOT
    match = _SCHEME.match(root)
    if match is None:
        return CheckpointTarget("file", str(_absolute(Path(root), project_root)))
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme == "file":
        return CheckpointTarget("file", str(_absolute(Path(rest), project_root)))
    if scheme == "memory":
        if not rest or "/" in rest:
            raise ConfigError("memory:// checkpoint roots need a name, e.g. memory://tests", file=file, line=line)
        return CheckpointTarget("memory", rest)
    if scheme in _AZURE_SCHEMES:
        return _with_connection(_from_uri(scheme, rest, file, line), connections, file, line)
    raise ConfigError(f"unsupported checkpoint root scheme '{scheme}://'", file=file, line=line, hint=_HINT)


def _absolute(path: Path, project_root: Path) -> Path:
    return (path if path.is_absolute() else project_root / path).resolve()


def _from_uri(scheme: str, rest: str, file: str | None, line: int | None) -> CheckpointTarget:
    if scheme in ("abfs", "abfss", "wasb", "wasbs"):
        m = _ABFS.match(rest)
        if m is None:
            raise ConfigError(
                f"malformed {scheme}:// checkpoint root", file=file, line=line,
                hint=f"{scheme}://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH",
            )
        prefix = (m.group("prefix") or "").strip("/")
        return CheckpointTarget("azure", prefix, account=m.group("account"), container=m.group("container"))
    container, _, prefix = rest.partition("/")
    if not container:
        raise ConfigError("malformed az:// checkpoint root", file=file, line=line, hint="az://CONTAINER/PATH")
    return CheckpointTarget("azure", prefix.strip("/"), container=container)


def _with_connection(
    target: CheckpointTarget, connections: dict[str, ConnectionConfig], file: str | None, line: int | None
) -> CheckpointTarget:
    """Attach the Azure connection of the root's account (its endpoint and ``auth``).

    An ``abfss://container@account...`` root uses the connection of that account, if any (else
    the account is reached with ``DefaultAzureCredential``); an ``az://container/...`` root names
    no account, so the project must have exactly one Azure connection.
    """
    azure = {n: c for n, c in connections.items() if c.type in ("azure_blob", "adls")}
    if target.account is not None:
        same = [c for c in azure.values() if c.account_name == target.account]
        return replace(target, connection=same[0]) if same else target
    if len(azure) != 1:
        raise ConfigError(
            "an az://container/path checkpoint root needs exactly one azure_blob/adls connection "
            f"(this project has {len(azure)})",
            file=file, line=line,
            hint="use checkpoint: {connection: NAME, path: ...} or an abfss://container@account.dfs.core.windows.net/path root",
        )
    conn = next(iter(azure.values()))
    return replace(target, account=conn.account_name, connection=conn)


def _from_connection(
    cfg: CheckpointConfig,
    connections: dict[str, ConnectionConfig],
    project_root: Path,
    file: str | None,
    line: int | None,
) -> CheckpointTarget:
    name = cfg.connection or ""
    conn = connections.get(name)
    if conn is None:
        from odibi_stream.core.hints import unknown_name_hint

        raise ConfigError(
            f"checkpoint connection '{name}' is not defined", file=file, line=line,
            hint=unknown_name_hint(name, sorted(connections), "connections"),
        )
    prefix = "/".join(p for p in (conn.base_path, cfg.path) if p).strip("/")
    if conn.type == "local":
        return CheckpointTarget("file", str(_absolute(Path(prefix or "."), project_root)))
    if conn.type in ("azure_blob", "adls"):
        if not conn.container:
            raise ConfigError(f"checkpoint connection '{name}' needs 'container'", file=file, line=line)
        return CheckpointTarget("azure", prefix, account=conn.account_name, container=conn.container, connection=conn)
    raise ConfigError(
        f"checkpoint connection '{name}' is of type {conn.type}, which cannot hold checkpoints",
        file=file, line=line, hint="use a local, azure_blob or adls connection",
    )
