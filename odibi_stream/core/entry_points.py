"""Discovering third-party plugins through Python entry points.

Groups:
    * ``odibi_stream.connectors`` — each entry point names a
      :class:`~odibi_stream.connectors.factory.Connector` object; the entry point's *name* is
      not significant (the connector lists its formats).
    * ``odibi_stream.transforms`` — each entry point names a module; importing it registers its
      ``@odibi_stream.transform`` functions.

A plugin that fails to load is a configuration problem of the installation: it is reported as a
:class:`ConfigError` naming the distribution and entry point, never a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from odibi_stream.exceptions import ConfigError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

CONNECTORS_GROUP = "odibi_stream.connectors"
TRANSFORMS_GROUP = "odibi_stream.transforms"


def discovered(group: str) -> list[EntryPoint]:
    """The entry points installed in ``group``, sorted by name (nothing is imported)."""
    # importlib.metadata costs ~15 ms to import: only a lookup that needs plugins pays it.
    from importlib.metadata import entry_points

    return sorted(entry_points(group=group), key=lambda ep: ep.name)


def load(ep: EntryPoint) -> Any:
    """Import and return what ``ep`` names.

    Raises:
        ConfigError: the plugin failed to import (its message says which one and why).
    """
    try:
        return ep.load()
    except Exception as exc:
        dist = ep.dist.name if ep.dist is not None else "?"
        raise ConfigError(
            f"plugin {ep.name!r} ({ep.value}) from {dist} failed to load: {type(exc).__name__}: {exc}",
            hint=f"fix or uninstall the '{dist}' distribution",
        ) from exc
