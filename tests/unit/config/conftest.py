"""Fixtures for config tests: real project folders written from exact YAML text."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.config.config_samples import ODIBI_YAML

ProjectWriter = Callable[..., Path]


@pytest.fixture
def write_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProjectWriter:
    """``write_project({"x.yaml": text}, odibi=text)`` → project folder (texts are dedented).

    The default odibi.yaml needs the secret LAKE_KEY, provided here through the environment.
    """
    monkeypatch.setenv("LAKE_KEY", "lake-account-key-value-123")

    def write(pipelines: dict[str, str], odibi: str = ODIBI_YAML, name: str = "proj") -> Path:
        root = tmp_path / name
        (root / "pipelines").mkdir(parents=True)
        (root / "odibi.yaml").write_text(textwrap.dedent(odibi), encoding="utf-8")
        for file, text in pipelines.items():
            (root / "pipelines" / file).write_text(textwrap.dedent(text), encoding="utf-8")
        return root

    return write
