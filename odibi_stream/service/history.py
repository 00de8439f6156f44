"""Batch history: stories kept next to the checkpoint, with the checkpoint's retention.

Layout in the project's checkpoint store (local disk, memory or Azure Blob alike)::

    <pipeline>/stories/000000000012.json          the story of committed batch 12
    <pipeline>/stories/000000000013.failed.json   the last failed attempt of batch 13

Stories older than the newest batch minus ``checkpoint.retain_batches`` are deleted (amortised,
like the log's own retention). Every story carries ``"version"`` (see ``observability.story``).

Lifecycle contract:
    * :class:`StoryStore` is stateless over a store: the daemon's story writer writes through
      it, the ``story`` CLI and the API read through it. Thread-safe (the store is).
    * :class:`StoryHistory` is the daemon's view: it keeps the newest summaries of every pipeline
      in memory (loaded from the store on first use, appended by the writer), so the console's
      charts never list or read storage on a request.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

import orjson

from odibi_stream.checkpoints.store import CheckpointStore
from odibi_stream.clients.locations import resolve_location
from odibi_stream.config.project import Project
from odibi_stream.exceptions import CheckpointError
from odibi_stream.observability.story import STORY_VERSION, PipelineFacts, summary

_NAME = re.compile(r"^(\d{1,20})(\.failed)?\.json$")


class StoryStore:
    """Read and write stories in a checkpoint store (see the module docstring).

    Args:
        store: The project's checkpoint store.
        retain: Batches of history kept (``checkpoint.retain_batches``).
    """

    def __init__(self, store: CheckpointStore, retain: int) -> None:
        self.store = store
        self.retain = retain

    @staticmethod
    def key(pipeline: str, batch: int, failed: bool = False) -> str:
        """The key of a story."""
        return f"{pipeline}/stories/{batch:012d}{'.failed' if failed else ''}.json"

    def write(self, story: Mapping[str, Any]) -> str:
        """Write (or overwrite: a replayed batch's newer story wins) one story; return its key."""
        key = self.key(str(story["pipeline"]), int(story["batch"]), story.get("status") == "failed")
        self.store.replace(key, orjson.dumps(story, option=orjson.OPT_SORT_KEYS, default=str))
        return key

    def read(self, pipeline: str, batch: int) -> dict[str, Any] | None:
        """The story of ``batch``: the committed one if there is one, else its failed attempt."""
        for failed in (False, True):
            found = self._read(self.key(pipeline, batch, failed))
            if found is not None:
                return found
        return None

    def read_failed(self, pipeline: str, batch: int) -> dict[str, Any] | None:
        """The failed attempt's story of ``batch``, if any."""
        return self._read(self.key(pipeline, batch, True))

    def entries(self, pipeline: str) -> list[tuple[int, bool, str]]:
        """(batch, failed, key) of every stored story, oldest first (a failure before its commit)."""
        found = []
        for key in self.store.list(f"{pipeline}/stories"):
            m = _NAME.match(key.rsplit("/", 1)[-1])
            if m:
                found.append((int(m.group(1)), m.group(2) is None, key))
        found.sort()
        return [(batch, not committed, key) for batch, committed, key in found]

    def summaries(self, pipeline: str, limit: int) -> list[dict[str, Any]]:
        """Summaries of the newest ``limit`` stories, newest first (reads them)."""
        out = []
        for _batch, _failed, key in reversed(self.entries(pipeline)[-limit:] if limit > 0 else []):
            story = self._read(key)
            if story is not None:
                out.append(summary(story))
        return out

    def prune(self, pipeline: str, newest: int) -> int:
        """Delete stories of batches older than ``newest - retain``; return how many."""
        removed = 0
        for batch, _failed, key in self.entries(pipeline):
            if batch <= newest - self.retain:
                self.store.delete(key)
                removed += 1
        return removed

    def _read(self, key: str) -> dict[str, Any] | None:
        raw = self.store.read(key)
        if raw is None:
            return None
        try:
            story = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise CheckpointError(f"story {key} is unreadable: {exc}") from exc
        if not isinstance(story, dict) or story.get("version") != STORY_VERSION:
            raise CheckpointError(
                f"story {key} has an unknown format version {story.get('version') if isinstance(story, dict) else '?'}",
                hint="it was written by a newer odibi-stream; upgrade to read it",
            )
        return story


class StoryHistory:
    """The daemon's batch history: summaries in memory, full stories in the store.

    Args:
        stories: Where stories are stored.
    """

    def __init__(self, stories: StoryStore) -> None:
        self.stories = stories
        self._recent: dict[str, deque[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def record(self, story: Mapping[str, Any]) -> None:
        """Remember a story just written (the writer calls this after the store write)."""
        line = summary(story)
        with self._lock:
            recent = self._recent.get(str(story["pipeline"]))
            if recent is None:
                return  # not loaded yet: the first read loads it from the store, this one included
            if recent and recent[-1]["batch"] == line["batch"] and recent[-1]["status"] == line["status"]:
                recent[-1] = line  # a replay or another failed attempt of the same batch
            else:
                recent.append(line)

    def batches(self, pipeline: str, limit: int) -> list[dict[str, Any]]:
        """Summaries of the newest ``limit`` stories of ``pipeline``, newest first."""
        with self._lock:
            recent = self._recent.get(pipeline)
        if recent is None:
            loaded = self.stories.summaries(pipeline, self.stories.retain * 2)
            with self._lock:
                recent = self._recent.setdefault(
                    pipeline, deque(reversed(loaded), maxlen=self.stories.retain * 2)
                )
        with self._lock:
            return list(reversed(recent))[: max(0, limit)]

    def batch(self, pipeline: str, batch: int) -> dict[str, Any] | None:
        """The full story of ``batch`` (committed, else its failed attempt)."""
        return self.stories.read(pipeline, batch)


def pipeline_facts(project: Project, name: str) -> PipelineFacts:
    """The static facts a story needs about pipeline ``name`` (outputs, sensitive columns)."""
    config = project.pipeline(name)
    outputs: dict[str, dict[str, str]] = {}
    for node in config.nodes:
        write = node.write
        if write is None:
            continue
        outputs[node.name] = {"format": write.format, "location": _where(project, write.connection, write.path, write.topic)}
    dl = config.dead_letter
    dead_letter = None
    if dl is not None:
        dead_letter = {"format": dl.format, "location": _where(project, dl.connection, dl.path, None)}
    edges = tuple((dep, n.name) for n in config.nodes for dep in n.depends_on)
    return PipelineFacts(outputs, frozenset(sensitive_columns(config.model_dump())), dead_letter, edges)


def sensitive_columns(data: Any) -> set[str]:
    """Column names marked ``sensitive: true`` anywhere in a pipeline's config.

    Both shapes count: a list item ``{name: ssn, sensitive: true}`` and a mapping entry
    ``ssn: {sensitive: true}``. A column is masked in every sample of the pipeline.
    """
    found: set[str] = set()
    if isinstance(data, Mapping):
        if data.get("sensitive") is True and isinstance(data.get("name"), str):
            found.add(data["name"])
        for key, value in data.items():
            if isinstance(value, Mapping) and value.get("sensitive") is True:
                found.add(str(key))
            found |= sensitive_columns(value)
    elif isinstance(data, (list, tuple)):
        for item in data:
            found |= sensitive_columns(item)
    return found


def _where(project: Project, connection: str, path: str | None, topic: str | None) -> str:
    try:
        uri = resolve_location(project, connection, path).describe()
    except Exception:  # an eventhub connection has no storage location
        uri = f"{connection}:"
    return f"{uri}/{topic}" if topic else uri
