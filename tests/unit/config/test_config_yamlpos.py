"""YAML loading with key-path → line maps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from odibi_stream.config.yamlpos import KeyPath, load_yaml, parse_yaml
from odibi_stream.exceptions import ConfigError


def test_lines_for_nested_keys_and_sequence_items() -> None:
    text = (
        "pipeline: p\n"  # 1
        "nodes:\n"  # 2
        "  - name: a\n"  # 3
        "    read:\n"  # 4
        "      format: csv\n"  # 5
        "  # comment\n"  # 6
        "  - name: b\n"  # 7
        "    depends_on: [a,\n"  # 8
        "      c]\n"  # 9
    )
    doc = parse_yaml(text, "f.yaml")
    assert doc.data["nodes"][1]["depends_on"] == ["a", "c"]
    assert doc.lines[("pipeline",)] == 1
    assert doc.lines[("nodes",)] == 2
    assert doc.lines[("nodes", 0)] == 3
    assert doc.lines[("nodes", 0, "read", "format")] == 5
    assert doc.lines[("nodes", 1)] == 7
    assert doc.lines[("nodes", 1, "depends_on")] == 8
    assert doc.lines[("nodes", 1, "depends_on", 1)] == 9
    assert doc.value_lines[("nodes", 0, "read")] == 5


def test_line_for_falls_back_to_longest_known_prefix() -> None:
    doc = parse_yaml("a:\n  b:\n    c: 1\n", "f.yaml")
    assert doc.line_for(("a", "b", "missing", "deeper")) == 2
    assert doc.line_for(("a", "b", "c")) == 3
    assert doc.line_for(("nope",)) == 1


def test_duplicate_key_is_an_error_with_both_lines() -> None:
    with pytest.raises(ConfigError) as info:
        parse_yaml("a: 1\nb:\n  x: 1\n  y: 2\n  x: 3\n", "dup.yaml")
    assert info.value.file == "dup.yaml"
    assert info.value.line == 5
    assert "duplicate key 'x'" in info.value.message
    assert info.value.hint is not None and "line 3" in info.value.hint


def test_merge_keys_may_be_overridden_without_duplicate_error() -> None:
    doc = parse_yaml("base: &b\n  x: 1\n  y: 2\nother:\n  <<: *b\n  y: 3\n", "m.yaml")
    assert doc.data["other"] == {"x": 1, "y": 3}
    assert doc.lines[("other", "y")] == 6


def test_keys_stay_as_written() -> None:
    doc = parse_yaml("on: 1\n2: x\nnull: y\n", "k.yaml")
    assert doc.data == {"on": 1, "2": "x", "null": "y"}
    assert doc.lines[("2",)] == 2


def test_syntax_error_has_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_yaml("a: 1\nb: [1, 2\nc: 3\n", "bad.yaml")
    assert info.value.line is not None and info.value.line >= 2
    assert "YAML syntax error" in info.value.message


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_empty_file_is_an_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_yaml(path, "pipelines/empty.yaml")
    assert str(info.value).startswith("pipelines/empty.yaml:1: file is empty")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml(tmp_path / "missing.yaml")
    assert "cannot read file" in info.value.message


# --------------------------------------------------------------------------- property test

_keys = st.from_regex(r"k[a-z0-9_]{0,5}", fullmatch=True)
_scalars = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.from_regex(r"s[a-z0-9]{0,6}", fullmatch=True),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.dictionaries(_keys, inner, min_size=1, max_size=4),
        st.lists(inner, min_size=1, max_size=4),
    ),
    max_leaves=25,
)


class _Emitter:
    """Writes block-style YAML by hand, recording the line of every key path."""

    def __init__(self, comments: list[bool]) -> None:
        self.out: list[str] = []
        self.expected: dict[KeyPath, int] = {}
        self._comments = iter(comments)

    def _maybe_comment(self, indent: str) -> None:
        if next(self._comments, False):
            self.out.append(f"{indent}# a comment")
            self.out.append("")

    def emit(self, value: Any, depth: int, path: KeyPath) -> None:
        indent = "  " * depth
        if isinstance(value, dict):
            for key, item in value.items():
                self._maybe_comment(indent)
                self.expected[(*path, key)] = len(self.out) + 1
                if isinstance(item, (dict, list)):
                    self.out.append(f"{indent}{key}:")
                    self.emit(item, depth + 1, (*path, key))
                else:
                    self.out.append(f"{indent}{key}: {item}")
            return
        for index, item in enumerate(value):
            if isinstance(item, (dict, list)):
                self.out.append(f"{indent}-")
                start = len(self.out)
                self.emit(item, depth + 1, (*path, index))
                # A block item starts at its first content line, after any comments.
                content = [i for i in range(start, len(self.out)) if _is_content(self.out[i])]
                self.expected[(*path, index)] = content[0] + 1
            else:
                self.expected[(*path, index)] = len(self.out) + 1
                self.out.append(f"{indent}- {item}")


def _is_content(line: str) -> bool:
    return bool(line.strip()) and not line.strip().startswith("#")


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(_keys, _values, min_size=1, max_size=5), st.lists(st.booleans(), max_size=40)
)
def test_every_key_path_maps_to_its_line(data: dict[str, Any], comments: list[bool]) -> None:
    emitter = _Emitter(comments)
    emitter.emit(data, 0, ())
    doc = parse_yaml("\n".join(emitter.out) + "\n", "gen.yaml")
    assert doc.data == data
    got = {path: line for path, line in doc.lines.items() if path}
    assert got == emitter.expected
