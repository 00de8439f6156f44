"""Blob-name globbing matches what pathlib's glob finds for the local files source."""

from __future__ import annotations

from pathlib import Path

import pytest

from odibi_stream.clients.globbing import glob_base, glob_regex

FILES = [
    "landing/a.csv",
    "landing/b.json",
    "landing/.hidden.csv",
    "landing/2024/01/c.csv",
    "landing/2024/02/d.csv",
    "landing/2024/e.csv",
    "landing/x[1].csv",
    "other/f.csv",
    "top.csv",
]

PATTERNS = [
    "landing/*.csv",
    "landing/*",
    "landing/**/*.csv",
    "landing/2024/*/*.csv",
    "**/*.csv",
    "landing/?.csv",
    "landing/[ab].*",
    "landing/[!a].csv",
    "landing/2024/0[1-2]/*.csv",
    "*.csv",
    "top.csv",
    "landing/a.csv",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_same_files_as_pathlib(tmp_path: Path, pattern: str) -> None:
    for rel in FILES:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    expected = sorted(
        p.relative_to(tmp_path).as_posix() for p in tmp_path.glob(pattern) if p.is_file()
    )
    rx = glob_regex(pattern)
    assert sorted(f for f in FILES if rx.match(f)) == expected


def test_base_folder_and_recursion() -> None:
    assert glob_base("landing/*.csv") == ("landing", False)
    assert glob_base("landing/**/*.csv") == ("landing", True)
    assert glob_base("landing/2024/*/x.csv") == ("landing/2024", True)
    assert glob_base("*.csv") == ("", False)
    assert glob_base("landing/a.csv") == ("landing", False)
    assert glob_base("a/b/**") == ("a/b", True)


def test_trailing_double_star_matches_everything_below() -> None:
    rx = glob_regex("landing/**")
    assert rx.match("landing/a.csv") and rx.match("landing/2024/01/c.csv")
    assert not rx.match("other/f.csv")


def test_regex_metacharacters_are_literal() -> None:
    rx = glob_regex("data/file+(1).csv")
    assert rx.match("data/file+(1).csv") and not rx.match("data/filee(1).csv")
