"""Part files (file sinks, jsonl dead letters) in an Azure Blob / ADLS folder.

Same names and semantics as the local part folder (:mod:`odibi_stream.connectors.files_sink`):
``part-<N:020d>-<node>-0.<ext>`` is the idempotency marker. The engine writes the part to a
local temporary file, which is uploaded *create-exclusive* (``If-None-Match: *``): a blob
appears whole or not at all, and if the name is already taken (an earlier attempt of the same
batch landed it — the response was lost, or the process died after the upload) the write
reports "already there" instead of overwriting. A lost response to our own upload is
recognised by its stored MD5 (see :meth:`BlobFileSystem.upload`).

Lifecycle: a sink opens one :class:`BlobParts` when it is opened and closes it with itself.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from odibi_stream.clients.azure_errors import BlobAlreadyExists
from odibi_stream.clients.locations import BlobRoot
from odibi_stream.engines.base import Engine, Frame, OptionsArg


def part_pattern(node: str, ext: str) -> re.Pattern[str]:
    """Names of ``node``'s part files with extension ``ext``; group 1 is the batch."""
    return re.compile(rf"^part-(\d{{20}})-{re.escape(node)}-\d+\.{re.escape(ext)}$")


class BlobParts:
    """A part-file folder in a container (see the module docstring)."""

    def __init__(self, root: BlobRoot) -> None:
        self._root = root
        self._fs = root.open(root.full)

    def where(self, name: str) -> str:
        """Printable location of part ``name`` (no secrets)."""
        return self._root.describe(f"{self._root.path}/{name}")

    def batches(self, node: str, ext: str) -> dict[int, str]:
        """Batch number → name of every part of ``node`` in the folder (one listing)."""
        pattern = part_pattern(node, ext)
        found: dict[int, str] = {}
        for f in self._fs.list(""):
            m = pattern.match(f.name)
            if m:
                found[int(m.group(1))] = f.name
        return found

    def write(
        self, engine: Engine, frame: Frame, name: str, fmt: str, options: OptionsArg
    ) -> str | None:
        """Write part ``name``; returns where, or None if the name was already taken."""
        fd, tmp = tempfile.mkstemp(prefix=".odibi-part-", suffix=Path(name).suffix)
        os.close(fd)
        try:
            engine.write_file(frame, tmp, fmt, options)
            self._fs.upload(name, tmp)
        except BlobAlreadyExists:
            return None
        finally:
            Path(tmp).unlink(missing_ok=True)
        return self.where(name)

    def remove(self, name: str) -> None:
        """Delete part ``name`` (already gone is fine)."""
        self._fs.delete(name)

    def close(self) -> None:
        """Close the connection pool."""
        self._fs.close()
