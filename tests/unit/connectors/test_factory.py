"""build_source / build_sink dispatch."""

from __future__ import annotations

from pathlib import Path

import pytest

from odibi_stream.config.models import NodeConfig
from odibi_stream.config.project import Location
from odibi_stream.connectors.factory import build_sink, build_source
from odibi_stream.connectors.files import FileSource
from odibi_stream.connectors.sinks import DeltaSink, FileSink
from odibi_stream.connectors.table_incremental import ColumnSource
from odibi_stream.exceptions import ConfigError


def node(**kw: object) -> NodeConfig:
    return NodeConfig.model_validate({"name": "n", **kw})


def test_sources(tmp_path: Path) -> None:
    loc = Location(uri=str(tmp_path / "in/*.csv"), storage_options={}, is_local=True)
    files = node(
        read={
            "connection": "c",
            "format": "csv",
            "path": "in/*.csv",
            "incremental": {"mode": "files"},
        }
    )
    assert isinstance(build_source("p", files, loc), FileSource)
    col = node(
        read={
            "connection": "c",
            "format": "delta",
            "path": "t",
            "incremental": {"mode": "column", "column": "k"},
        }
    )
    assert isinstance(build_source("p", col, Location(uri=str(tmp_path / "t"))), ColumnSource)
    static = node(read={"connection": "c", "format": "delta", "path": "t"})
    assert build_source("p", static, loc) is None
    bad = node(
        read={"connection": "c", "format": "delta", "path": "t", "incremental": {"mode": "files"}}
    )
    with pytest.raises(ConfigError):
        build_source("p", bad, loc)
    kafka = node(read={"connection": "c", "format": "kafka", "topic": "t"})
    with pytest.raises(ConfigError, match=r"bootstrap\.servers") as info:
        build_source("p", kafka, loc)  # a kafka read needs a kafka connection's client options
    assert info.value.hint
    hub = node(read={"connection": "c", "format": "eventhub", "topic": "t"})
    with pytest.raises(ConfigError, match="not available yet"):
        build_source("p", hub, loc)


def test_sinks(tmp_path: Path) -> None:
    loc = Location(uri=str(tmp_path / "o"), storage_options={}, is_local=True)
    base = {"read": {"connection": "c", "format": "csv", "path": "x"}}
    assert isinstance(
        build_sink(node(**base, write={"connection": "c", "format": "delta", "path": "o"}), loc),
        DeltaSink,
    )
    assert isinstance(
        build_sink(node(**base, write={"connection": "c", "format": "jsonl", "path": "o"}), loc),
        FileSink,
    )
    with pytest.raises(ConfigError, match=r"bootstrap\.servers"):
        build_sink(node(**base, write={"connection": "c", "format": "kafka", "topic": "o"}), loc)
    with pytest.raises(ConfigError):
        build_sink(node(**base), loc)
