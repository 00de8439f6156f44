"""Server settings resolved from ``server:`` of odibi.yaml: limits, hosts, TLS, probe port.

Lifecycle contract:
    * :meth:`ServerOptions.from_config` is called once by ``start_server`` (the daemon passes its
      project's :class:`~odibi_stream.config.models.ServerConfig` and project folder); the
      result is immutable. Settings are not re-read on a hot reload: a restart applies them.
    * :func:`tls_context` turns ``server.tls`` into a server-side ``ssl.SSLContext`` or raises
      :class:`~odibi_stream.exceptions.ConfigError` naming the file (never its content).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from odibi_stream.config.project_models import ServerConfig
from odibi_stream.exceptions import ConfigError

MAX_HEAD_BYTES = 16 * 1024
"""Request line plus headers; larger gets 431."""

PROBE_CONNECTIONS = 16
PROBE_WORKERS = 2
FD_SHARE = 4
"""At most a quarter of the process fd limit goes to control-plane connections."""


@dataclass(frozen=True)
class ServerOptions:
    """Everything the listeners need besides the control plane and the token.

    Attributes:
        max_connections: Open API connections (already capped by the fd limit).
        workers: API worker threads.
        request_timeout: Seconds a client has to send a request and take the response.
        max_body_bytes: Largest accepted request body.
        allowed_hosts: Extra ``Host`` names.
        readiness_fail_on: Pipeline states that fail ``/readyz``.
        trigger_burst: Trigger token-bucket depth.
        trigger_per_second: Trigger token-bucket refill.
        probe_port: Port of the probe listener (None: no probe listener; 0: any free port).
        tls: Server-side TLS context, or None for plain HTTP.
    """

    max_connections: int = 128
    workers: int = 8
    request_timeout: float = 10.0
    max_body_bytes: int = 64 * 1024
    allowed_hosts: tuple[str, ...] = ()
    readiness_fail_on: frozenset[str] = frozenset({"failed"})
    trigger_burst: int = 3
    trigger_per_second: float = 1.0
    probe_port: int | None = None
    tls: ssl.SSLContext | None = None

    @property
    def scheme(self) -> str:
        """``https`` with TLS, else ``http``."""
        return "https" if self.tls is not None else "http"

    @classmethod
    def from_config(cls, config: ServerConfig | None, base_dir: Path | None = None) -> ServerOptions:
        """Resolve ``config`` (defaults when None); relative TLS paths are under ``base_dir``."""
        config = config or ServerConfig()
        limits = config.limits
        tls = None
        if config.tls is not None:
            root = base_dir or Path.cwd()
            tls = tls_context(root / config.tls.cert, root / config.tls.key)
        return cls(
            max_connections=connection_cap(limits.max_connections),
            workers=limits.workers,
            request_timeout=limits.request_timeout_seconds,
            max_body_bytes=limits.max_body_bytes,
            allowed_hosts=tuple(config.allowed_hosts),
            readiness_fail_on=frozenset(config.readiness_fail_on),
            trigger_burst=limits.trigger_burst,
            trigger_per_second=limits.trigger_per_second,
            probe_port=config.probe_port,
            tls=tls,
        )


def connection_cap(configured: int) -> int:
    """``configured``, lowered to a quarter of the soft fd limit so sinks and leases keep fds."""
    try:
        import resource
    except ImportError:  # not POSIX: no fd limit to respect
        return configured
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return configured
    return max(4, min(configured, soft // FD_SHARE))


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A TLS 1.2+ server context for ``cert``/``key`` (ConfigError when unusable)."""
    for what, path in (("certificate", cert), ("key", key)):
        if not path.is_file():
            raise ConfigError(
                f"server.tls: {what} file not found: {path}",
                hint="server.tls.cert and server.tls.key are PEM files, relative to the project folder",
            )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"server.tls: cannot load {cert.name} / {key.name}: {type(exc).__name__}",
            hint="both must be PEM; the key must match the certificate and not be encrypted",
        ) from None
    return context
