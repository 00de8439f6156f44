"""build_source / build_sink dispatch through the connector registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import NodeConfig
from odibi_stream.connectors.column_source import ColumnSpec
from odibi_stream.connectors.delta import DeltaSinkSpec
from odibi_stream.connectors.factory import (
    BUILTIN,
    Connector,
    build_sink,
    build_source,
    connectors,
    register,
)
from odibi_stream.connectors.files import FilesSpec
from odibi_stream.connectors.files_sink import FileSinkSpec
from odibi_stream.core.wake import FolderWatch, PollWatch
from odibi_stream.exceptions import ConfigError


def node(**kw: object) -> NodeConfig:
    return NodeConfig.model_validate({"name": "n", **kw})


def test_sources(tmp_path: Path) -> None:
    loc = Location(uri=str(tmp_path / "in/*.csv"), storage_options={}, is_local=True)
    files = node(
        read={"connection": "c", "format": "csv", "path": "in/*.csv", "incremental": {"mode": "files"}}
    )
    spec = build_source("p", files, loc)
    assert isinstance(spec, FilesSpec)
    assert spec.watch() == FolderWatch((tmp_path / "in",), settle_seconds=1.0)
    col = node(
        read={"connection": "c", "format": "delta", "path": "t", "incremental": {"mode": "column", "column": "k"}}
    )
    col_spec = build_source("p", col, Location(uri=str(tmp_path / "t")))
    assert isinstance(col_spec, ColumnSpec) and col_spec.watch() is None
    static = node(read={"connection": "c", "format": "delta", "path": "t"})
    assert build_source("p", static, loc) is None
    bad = node(read={"connection": "c", "format": "delta", "path": "t", "incremental": {"mode": "files"}})
    with pytest.raises(ConfigError):
        build_source("p", bad, loc)
    kafka = node(read={"connection": "c", "format": "kafka", "topic": "t"})
    with pytest.raises(ConfigError, match=r"bootstrap\.servers") as info:
        build_source("p", kafka, loc)  # a kafka read needs a kafka connection's client options
    assert info.value.hint


def test_kafka_spec_is_validated_without_a_broker_and_watches_its_topics() -> None:
    kafka = node(read={"connection": "c", "format": "kafka", "topic": "a,b", "options": {"value_format": "json"}})
    spec = build_source("p", kafka, Location(uri="kafka://x:1", storage_options={"bootstrap.servers": "x:1"}))
    assert spec is not None
    watch = spec.watch()
    assert isinstance(watch, PollWatch) and watch.name == "kafka:a,b"
    with pytest.raises(ValidationError, match="on_data_loss"):  # the config model rejects it
        node(read={"connection": "c", "format": "kafka", "topic": "a", "options": {"on_data_loss": "ignore"}})


def test_sinks(tmp_path: Path) -> None:
    loc = Location(uri=str(tmp_path / "o"), storage_options={}, is_local=True)
    base = {"read": {"connection": "c", "format": "csv", "path": "x"}}
    delta = build_sink(node(**base, write={"connection": "c", "format": "delta", "path": "o"}), loc, "p")
    assert isinstance(delta, DeltaSinkSpec)
    jsonl = build_sink(node(**base, write={"connection": "c", "format": "jsonl", "path": "o"}), loc, "p")
    assert isinstance(jsonl, FileSinkSpec)
    with pytest.raises(ConfigError, match=r"bootstrap\.servers"):
        build_sink(node(**base, write={"connection": "c", "format": "kafka", "topic": "o"}), loc, "p")
    with pytest.raises(ConfigError):
        build_sink(node(**base), loc, "p")


def test_every_builtin_format_has_a_connector() -> None:
    assert {"csv", "json", "jsonl", "parquet", "delta", "kafka"} <= set(connectors())


def test_a_registered_connector_serves_its_format(tmp_path: Path) -> None:
    made: list[str] = []

    def sink(req: object) -> FileSinkSpec:
        made.append("sink")
        return FileSinkSpec("n", Location(uri=str(tmp_path)), node(read={"connection": "c", "format": "csv", "path": "x"},
                            write={"connection": "c", "format": "jsonl", "path": "o"}).write)  # type: ignore[arg-type]

    register(Connector("unit-test", ("jsonl",), source=None, sink=sink))
    try:
        loc = Location(uri=str(tmp_path / "o"))
        build_sink(node(read={"connection": "c", "format": "csv", "path": "x"},
                        write={"connection": "c", "format": "jsonl", "path": "o"}), loc, "p")
        assert made == ["sink"]
    finally:
        register(next(c for c in BUILTIN if c.name == "files"))
