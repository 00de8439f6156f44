"""Where a serving daemon can be found: one address file per daemon process.

``odibi-stream serve`` writes ``<runtime dir>/<project key>/<pid>.json`` =
``{"version": 1, "url", "host", "port", "pid", "hostname", "project", "started"}`` once its
HTTP server listens (atomically: a temp file renamed into place) and removes it when it exits;
``status``, ``trigger``, ``pause``, ``resume``, ``retry`` and ``skip`` read it, so they find a
daemon started with ``--port 0`` or another port without being told.

The runtime dir is ``$ODIBI_RUNTIME_DIR``, else ``$XDG_RUNTIME_DIR/odibi-stream``, else
``<tmp>/odibi-stream-<uid>``: never the project folder (it may be a read-only mount in a
container) nor the checkpoint root (it may be remote). The project key is a hash of the
project folder's resolved path, so every command given the same folder agrees on it. A file
left behind by a killed daemon names a dead pid and is ignored (and removed) by readers.

Lifecycle: the CLI's ``serve`` calls :func:`publish` once the server is up and closes the
returned :class:`Published` when the daemon has drained; readers call :func:`find`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from odibi_stream.core.clock import utc_now

VERSION = 1
RUNTIME_DIR_ENV = "ODIBI_RUNTIME_DIR"


def runtime_dir() -> Path:
    """The folder holding the address files of every project's daemons (see the module)."""
    explicit = os.environ.get(RUNTIME_DIR_ENV)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "odibi-stream"
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"odibi-stream-{uid}"


def project_folder(project_root: Path) -> Path:
    """The folder of ``project_root``'s address files."""
    key = hashlib.sha256(str(project_root.resolve()).encode()).hexdigest()[:16]
    return runtime_dir() / key


@dataclass(frozen=True)
class DaemonAddress:
    """A daemon serving a project, as its address file says."""

    url: str
    host: str
    port: int
    pid: int
    hostname: str
    project: str
    started: str
    path: Path

    def alive(self) -> bool:
        """True unless the file names a process of this host that no longer exists."""
        if self.hostname != socket.gethostname():
            return True  # cannot tell from here: let the HTTP call decide
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # someone else's live process
        return True


class Published:
    """An address file this process wrote; :meth:`close` removes it (idempotent)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def close(self) -> None:
        """Remove the file."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> Published:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def publish(project_root: Path, url: str, host: str, port: int) -> Published:
    """Write this process's address file for ``project_root`` (atomically) and return it."""
    folder = project_folder(project_root)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    doc = {
        "version": VERSION, "url": url, "host": host, "port": port, "pid": os.getpid(),
        "hostname": socket.gethostname(), "project": str(project_root.resolve()),
        "started": utc_now().isoformat(),
    }
    final = folder / f"{os.getpid()}.json"
    fd, tmp = tempfile.mkstemp(prefix=".addr-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, sort_keys=True)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return Published(final)


def _read(path: Path) -> DaemonAddress | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        return None
    try:
        return DaemonAddress(
            url=str(doc["url"]), host=str(doc["host"]), port=int(doc["port"]), pid=int(doc["pid"]),
            hostname=str(doc["hostname"]), project=str(doc["project"]), started=str(doc["started"]),
            path=path,
        )
    except (KeyError, TypeError, ValueError):
        return None


def find(project_root: Path) -> list[DaemonAddress]:
    """The live daemons of ``project_root``, newest first; stale files are removed."""
    folder = project_folder(project_root)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.json"):
        address = _read(path)
        if address is None:
            continue
        if not address.alive():
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        found.append(address)
    return sorted(found, key=lambda a: a.started, reverse=True)
