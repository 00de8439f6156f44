"""Locating a node's data from its resolved :class:`~odibi_stream.clients.locations.Location`.

The runtime passes connectors the location of the node's own path
(``resolve_location(project, connection, path)``): a Delta table, an output folder, or — for file
sources — the glob itself. File sources also need the *connection root* (globs and
``archive_path`` are relative to it), recovered here by removing the path's components.
"""

from __future__ import annotations

from pathlib import Path

from odibi_stream.clients.locations import Location
from odibi_stream.exceptions import ConfigError


def path_parts(rel: str) -> list[str]:
    """Components of a connection-relative path (``/`` or ``\\`` separated), without ``.``."""
    parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ConfigError(
            f"path {rel!r} must stay inside its connection", hint="remove '..' from the path"
        )
    return parts


def connection_root(location: Location, rel: str) -> Path:
    """The local connection root of ``location``, which was resolved from ``rel``.

    Raises:
        ConfigError: ``location.uri`` does not end with ``rel`` (not resolved from it).
    """
    parts = path_parts(rel)
    full = Path(location.uri)
    if not parts:
        return full
    if list(full.parts[-len(parts) :]) != parts:
        raise ConfigError(
            f"location {location.uri} does not end with the path {rel!r}",
            hint="pass resolve_location(project, connection, path) for the node's read path",
        )
    return full.parents[len(parts) - 1]
