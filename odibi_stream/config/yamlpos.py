"""YAML loading that remembers where every key came from.

PyYAML's composer gives a node tree with start marks; we build plain Python data from it and,
alongside, a map from each key path (``("nodes", 2, "depends_on")``) to its 1-based line. The
loader uses the map to turn a pydantic error ``loc`` into ``file:line``.

Lifecycle: the project loader calls :func:`load_yaml` once per file, before any validation.
Guarantees: the returned data contains only dicts (with string keys, exactly as written),
lists and YAML scalars; every mapping key and sequence item has an entry in ``lines`` (the
key's line for mappings, the item's first line for sequences), and ``value_lines`` holds the
line where each value starts (which differs from the key's line for block values). Duplicate keys and syntax errors raise
:class:`~odibi_stream.exceptions.ConfigError` with the offending line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from odibi_stream.exceptions import ConfigError

KeyPath = tuple[str | int, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class PositionedYaml:
    """Plain data from one YAML document plus key-path → line maps.

    Attributes:
        data: The document as dicts, lists and scalars.
        file: How the file is named in error messages.
        lines: Key path → 1-based line of the key (or sequence item).
        value_lines: Key path → 1-based line where the value starts.
    """

    data: Any
    file: str
    lines: dict[KeyPath, int] = field(default_factory=dict)
    value_lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_for(self, loc: Sequence[str | int]) -> int | None:
        """Line of the longest known prefix of ``loc`` (a pydantic error loc or key path)."""
        return line_for(self.lines, loc)


def line_for(lines: Mapping[KeyPath, int], loc: Sequence[str | int]) -> int | None:
    """Line of the longest prefix of ``loc`` present in ``lines``; None if not even the root."""
    path = tuple(loc)
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


def load_yaml(path: Path, display: str | None = None) -> PositionedYaml:
    """Read and parse ``path``.

    Args:
        path: The YAML file.
        display: Name used in error messages (defaults to ``str(path)``).

    Raises:
        ConfigError: Unreadable file, syntax error, empty document or duplicate key.
    """
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", file=name) from exc
    return parse_yaml(text, name)


def parse_yaml(text: str, file: str) -> PositionedYaml:
    """Parse YAML ``text`` (see :func:`load_yaml`); ``file`` names it in errors."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise ConfigError(
                "file is empty", file=file, line=1, hint="a YAML mapping is expected here"
            )
        result = PositionedYaml(data=None, file=file)
        result.lines[()] = root.start_mark.line + 1
        result.value_lines[()] = root.start_mark.line + 1
        data = _Builder(loader, result).build(root, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or "invalid YAML"
        raise ConfigError(f"YAML syntax error: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", file=file) from None
    finally:
        loader.dispose()
    return PositionedYaml(data=data, file=file, lines=result.lines, value_lines=result.value_lines)


class _Builder:
    """Walks a composed node tree, constructing data and recording positions."""

    def __init__(self, loader: yaml.SafeLoader, out: PositionedYaml) -> None:
        self._loader = loader
        self._out = out

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self._out.value_lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self._out.lines[(*path, index)] = item.start_mark.line + 1
                items.append(self.build(item, (*path, index)))
            return items
        return self._loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        explicit = sum(1 for k, _ in node.value if k.tag != _MERGE_TAG)
        # Resolves "<<" merge keys into plain entries placed first, as the normal constructor
        # does; explicit keys may then override merged ones without being duplicates.
        self._loader.flatten_mapping(node)
        merged = len(node.value) - explicit
        result: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for position, (key_node, value_node) in enumerate(node.value):
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    "mapping keys must be plain scalars", file=self._out.file, line=line
                )
            # Keys stay the text the user wrote: YAML 1.1 would turn `on:` into True and `1:` into
            # an int, which no config field (all keyed by name) could ever match.
            key: str = key_node.value
            if key in seen:
                raise ConfigError(
                    f"duplicate key '{key}'",
                    file=self._out.file,
                    line=line,
                    hint=f"'{key}' is already defined at line {seen[key]}; keep one of them",
                )
            if position >= merged:
                seen[key] = line
            self._out.lines[(*path, key)] = line
            result[key] = self.build(value_node, (*path, key))
        return result
