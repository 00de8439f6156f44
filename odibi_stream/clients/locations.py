"""Where a node's data lives: every ``(connection, path)`` → a :class:`Location`.

The one place that turns a connection plus a node path into what each library needs:

* **local**: an absolute path (relative ``base_path`` under the project folder).
* **azure_blob / adls**: one ABFS URI, ``abfss://<container>@<account>.dfs.<suffix>/<path>``
  (``abfs://`` when the endpoint is plain HTTP, e.g. Azurite), which delta-rs *and* Spark's ABFS
  driver both accept, so a table written by one engine is the same table for the other;
  ``storage_options`` are the delta-rs/object_store options translated from the connection's
  ``auth`` (:func:`odibi_stream.clients.azure_options.object_store_options`), with short
  client-side retries so an outage surfaces as a retryable batch failure instead of a call
  blocked for minutes; for a Spark pipeline they also carry the Hadoop ``fs.azure.*`` keys
  (:func:`~odibi_stream.clients.azure_options.hadoop_conf`) that the Spark engine applies to its
  session (delta-rs ignores them). ``blob`` addresses the same folder through the Blob API
  (:class:`~odibi_stream.clients.azure_files.BlobFileSystem`), for file sources and sinks.
* **kafka**: ``kafka://<servers>`` with the client options as ``storage_options``.
* **eventhub**: ``sb://<namespace>`` and the connection itself (``connection``): the Event Hubs
  connector resolves namespace, hub and ``auth`` from it (an event hub has no path; the node's
  ``topic`` names it).

Legacy (before ``endpoint``/``auth``): ``options: {use_emulator: "true"}`` on an Azure
connection still works: it means ``endpoint: <AZURITE_BLOB_STORAGE_URL>/devstoreaccount1``
(that variable as delta-rs' own ``use_emulator`` reads it, e.g. ``http://azurite:10000`` in
compose; default ``http://127.0.0.1:10000``) and, without ``auth``, the emulator's public
development key; an account key or SAS given as
``options`` (``account_key``, ``azure_storage_account_key``, ``sas_token`` ...) is taken as the
``auth`` when there is none. Prefer ``endpoint`` (any port, HTTPS, Azure Stack, sovereign
clouds) and ``auth``. Other ``options`` of an Azure connection are passed to delta-rs verbatim
(they win over the translated ones).

Lifecycle: :func:`resolve_location` is pure (no I/O); the runtime calls it while compiling a
pipeline, so every mistake here is a ``validate`` error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from odibi_stream.clients.azure import (
    AZURITE_DEFAULT_URL,
    AzureTarget,
    container_uri,
    require_sdk,
)
from odibi_stream.clients.azure_options import (
    SecretOptions,
    abfs_uri,
    hadoop_conf,
    object_store_options,
)
from odibi_stream.config.azure_auth import AzureAuth, DefaultAuth
from odibi_stream.config.paths import path_problem
from odibi_stream.config.project import AZURITE_ACCOUNT, AZURITE_KEY, PROJECT_FILE_KEY, Project
from odibi_stream.config.project_models import ConnectionConfig
from odibi_stream.exceptions import ConfigError

if TYPE_CHECKING:
    from odibi_stream.clients.azure_files import BlobFileSystem

AZURE_TYPES = ("azure_blob", "adls")
_TRUE = ("1", "true", "yes", "on")
_LEGACY_KEYS = ("azure_storage_account_key", "account_key", "access_key")
_LEGACY_SAS = ("azure_storage_sas_key", "sas_key", "sas_token")
# object_store retries connection failures for ~1 min by default; the runtime has its own
# backoff and health reporting, so fail a call within seconds and let the batch be retried.
OBJECT_STORE_RETRIES = {"max_retries": "3", "retry_timeout": "20s"}


@dataclass(frozen=True)
class BlobRoot:
    """A folder of an Azure connection, addressed through the Blob API.

    Attributes:
        target: The connection's account, container, endpoint and auth.
        base: The connection's ``base_path`` inside the container (``""`` = top level).
        path: The node's path relative to ``base`` (may be a glob for file sources).
    """

    target: AzureTarget
    base: str
    path: str

    @property
    def full(self) -> str:
        """``base/path`` inside the container."""
        return _join(self.base, self.path)

    def describe(self, rel: str | None = None) -> str:
        """Printable location (no secrets) of ``rel`` under ``base`` (default: ``path``)."""
        return container_uri(self.target, _join(self.base, self.path if rel is None else rel))

    def open(self, root: str | None = None, **kwargs: Any) -> BlobFileSystem:
        """A :class:`BlobFileSystem` rooted at ``root`` (default: ``base``); caller closes it.

        Raises:
            ConfigError: the ``azure`` extra is missing, or the auth cannot reach storage.
        """
        from odibi_stream.clients.azure_files import BlobFileSystem

        return BlobFileSystem.open(self.target, self.base if root is None else root, **kwargs)


@dataclass(frozen=True)
class Location:
    """Where a node's data lives.

    Attributes:
        uri: Absolute local path, an ABFS URI (Azure) or ``kafka://servers``.
        storage_options: delta-rs/object_store options (Azure; plus Hadoop ``fs.*`` keys for
            the Spark engine) or Kafka client options; ``{}`` for local paths.
        is_local: True for the local file system.
        blob: The same place through the Blob API (Azure connections only).
        connection: The connection's config, for connectors that need more than a URI (Event
            Hubs: namespace and ``auth``); never printed.
    """

    uri: str
    storage_options: dict[str, str] = field(default_factory=dict)
    is_local: bool = True
    blob: BlobRoot | None = None
    connection: ConnectionConfig | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        # storage_options hold account keys: never show them.
        return f"Location(uri={self.uri!r}, is_local={self.is_local})"

    def describe(self) -> str:
        """Printable location without secrets."""
        return self.blob.describe() if self.blob is not None else self.uri


def azure_target(conn: ConnectionConfig) -> AzureTarget:
    """The :class:`AzureTarget` of an ``azure_blob``/``adls`` connection.

    Without ``auth`` the account is reached with ``DefaultAzureCredential`` (the emulator's
    development key under the legacy ``use_emulator`` option).
    """
    given = conn.pass_through_options()
    emulator = str(given.get("use_emulator", "")).lower() in _TRUE
    auth = conn.auth or _legacy_auth(given)
    if auth is None:
        auth = AzureAuth(account_key=SecretStr(AZURITE_KEY)) if emulator else AzureAuth(default=DefaultAuth())
    endpoint = conn.endpoint or (_emulator_url() if emulator else None)
    return AzureTarget(conn.account_name, conn.container, auth, endpoint)


def _emulator_url() -> str:
    base = os.environ.get("AZURITE_BLOB_STORAGE_URL", "").strip().rstrip("/")
    return f"{base}/{AZURITE_ACCOUNT}" if base else AZURITE_DEFAULT_URL


def _legacy_auth(options: dict[str, str]) -> AzureAuth | None:
    """A key or SAS given the old way, as object_store ``options`` (before ``auth:`` existed)."""
    for key in _LEGACY_KEYS:
        if options.get(key):
            return AzureAuth(account_key=SecretStr(options[key]))
    for key in _LEGACY_SAS:
        if options.get(key):
            return AzureAuth(sas_token=SecretStr(options[key]))
    return None


def resolve_location(
    project: Project, connection: str, path: str | None, *, engine: str = "pandas"
) -> Location:
    """Resolve ``path`` under ``connection`` of ``project`` for a pipeline on ``engine``.

    Raises:
        ConfigError: unknown connection, a path under an eventhub connection, an Azure connection
            without container/account, an auth mode the engine's libraries cannot use, or a
            ``path`` that is absolute, a URL or contains ``..`` (it must stay inside).
    """
    problem = path_problem(path) if path else None
    if problem is not None:
        raise ConfigError(f"path '{path}' {problem}", hint="write the path relative to the connection")
    conn = project.connection(connection)
    where = str(project.files.get(PROJECT_FILE_KEY))
    if conn.type == "local":
        base = Path(conn.base_path or ".")
        base = base if base.is_absolute() else project.root / base
        full = base / path if path else base
        return Location(uri=str(full.resolve()), storage_options={}, is_local=True)
    if conn.type in AZURE_TYPES:
        try:
            return _azure_location(connection, conn, path, engine)
        except ConfigError as exc:
            raise ConfigError(
                f"connection '{connection}': {exc.message}", file=where, hint=exc.hint
            ) from None
    if conn.type == "eventhub" and not path:
        return Location(uri=f"sb://{conn.namespace or ''}", is_local=False, connection=conn)
    if conn.type == "kafka":
        # Message buses have no paths: the client options travel as storage_options.
        kafka = conn.kafka_options()
        return Location(
            uri=f"kafka://{kafka.bootstrap_servers}", storage_options=kafka.client_config(), is_local=False
        )
    raise ConfigError(
        f"connection '{connection}' is of type {conn.type} and has no storage location",
        file=where,
        hint="use a local, azure_blob or adls connection for paths (an event hub is named by 'topic')",
    )


def _join(*parts: str | None) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def _azure_location(name: str, conn: ConnectionConfig, path: str | None, engine: str) -> Location:
    if not conn.container:
        raise ConfigError(f"{conn.type} connections need 'container'")
    target = azure_target(conn)
    base = _join(conn.base_path)
    rel = _join(path)
    options = SecretOptions(OBJECT_STORE_RETRIES)
    options.update(object_store_options(target))
    options.update({k: v for k, v in conn.pass_through_options().items() if k != "use_emulator"})
    if engine == "spark":
        # adls = a hierarchical-namespace account; azure_blob = flat (ABFS then uses Blob APIs).
        options.update(hadoop_conf(target, hierarchical=conn.type == "adls"))
    uri = abfs_uri(target, _join(base, rel))
    return Location(uri=uri, storage_options=options, is_local=False, blob=BlobRoot(target, base, rel))


def require_blob_sdk(location: Location, what: str) -> None:
    """Raise the install hint now (at compile time) if ``location`` needs the Blob SDK."""
    if location.blob is not None:
        try:
            require_sdk()
        except ConfigError as exc:
            raise ConfigError(f"{what} on {location.describe()}: {exc.message}", hint=exc.hint) from None
