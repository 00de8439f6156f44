"""Whole files that cannot be read: found one by one, so the good files of a batch still land.

A batch reads its files in one engine call; an empty, unreadable or malformed file (not merely a
bad record in it) makes that call raise ``RecordError``. The executor then calls
:func:`read_file_by_file`, which re-reads the range one file at a time. Under ``on_error:
dead_letter`` or ``skip`` every such file becomes one :class:`~odibi_stream.engines.base.Reject`
(the whole file: its path, the reason; the batch number is added by the dead letter), and the
other files' rows continue; under ``on_error: fail`` the first such file is raised as
:class:`UnreadableFile`, naming it. Records the reader already rejected one by one (a row with
the wrong number of fields, a value that is not of its declared type) are unaffected.

Only ranges of the files source (``{"files": [...]}``) can be split; for any other range the
original error stands.
"""

from __future__ import annotations

from typing import Any

from odibi_stream.connectors.base import Position, Source
from odibi_stream.engines.base import Engine, ReadResult, Reject
from odibi_stream.exceptions import RecordError

WHOLE_FILE = "whole file"
"""The ``_odibi_record`` text of a dead letter that stands for a whole file."""


class UnreadableFile(RecordError):
    """A file of the batch cannot be read at all (``on_error: fail``).

    Attributes:
        path: The file, relative to its connection (as planned in ``offsets/N``).
    """

    def __init__(self, path: str, reason: BaseException) -> None:
        text = str(reason)
        super().__init__(
            text if path.rsplit("/", 1)[-1] in text else f"cannot read file {path}: {text}",
            hint="set on_error: dead_letter (with a dead_letter target) or skip on the node: the "
            "file is then set aside and the batch's other files land when it runs again "
            "(a reload does that; else `odibi-stream retry PROJECT PIPELINE`); land a corrected "
            "file under a new name. `odibi-stream skip PROJECT PIPELINE` drops the whole batch",
        )
        self.path = path


def splittable(rng: Position) -> bool:
    """True for a files range of more than zero files."""
    files = rng.get("files")
    return isinstance(files, list) and bool(files)


def read_file_by_file(
    source: Source, engine: Engine, rng: Position, policy: str
) -> ReadResult:
    """Read a files range one file at a time; whole-file failures become rejects (see module).

    Raises:
        UnreadableFile: ``policy`` is ``fail`` and a file cannot be read.
        ConnectorError: anything else the source raises (a vanished file, an outage).
    """
    frames: list[Any] = []
    rejects: list[Reject] = []
    for entry in rng["files"]:
        try:
            result = source.read(engine, {**rng, "files": [entry]})
        except (RecordError, PermissionError, IsADirectoryError, UnicodeDecodeError) as exc:
            path = str(entry.get("path"))
            if policy == "fail":
                raise UnreadableFile(path, exc) from exc
            rejects.append(Reject(record=WHOLE_FILE, error=f"unreadable file: {exc}", source=path))
            continue
        frames.append(result.frame)
        rejects.extend(result.rejects)
    if not frames:
        return ReadResult(source.read(engine, {**rng, "files": []}).frame, rejects)
    frame = frames[0] if len(frames) == 1 else engine.union(frames)
    return ReadResult(frame, rejects)
