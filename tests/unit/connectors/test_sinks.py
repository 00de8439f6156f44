"""DeltaSink and FileSink: idempotency by our own check, modes, atomic part files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import WriteConfig
from odibi_stream.connectors.base import BatchKey
from odibi_stream.connectors.delta import DeltaSink, DeltaSinkSpec
from odibi_stream.connectors.files_sink import FileSink, FileSinkSpec
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import ConfigError


def loc(path: Path) -> Location:
    return Location(uri=str(path), storage_options={}, is_local=True)


def delta_sink(path: Path, **kw: Any) -> DeltaSink:
    return DeltaSinkSpec("n", loc(path), WriteConfig(connection="c", format="delta", path="t", **kw)).open()


def key(batch: int) -> BatchKey:
    return BatchKey("p", "n", batch)


def test_delta_batch_written_twice_lands_once(tmp_path: Path) -> None:
    sink, engine = delta_sink(tmp_path / "t"), PandasEngine()
    assert not sink.already_written(key(3))  # no table yet
    first = sink.write(engine, pa.table({"id": [1, 2]}), key(3))
    again = sink.write(engine, pa.table({"id": [1, 2]}), key(3))
    assert (first.skipped, first.rows, first.detail["version"]) == (False, 2, 0)
    assert again.skipped and again.rows == 0
    assert DeltaTable(str(tmp_path / "t")).to_pyarrow_table().num_rows == 2
    assert sink.already_written(key(3)) and sink.already_written(key(2))
    assert not sink.already_written(key(4))


def test_older_batch_is_not_silently_accepted(tmp_path: Path) -> None:
    """delta-rs would record txn version 2 after 3; our check refuses to write it at all."""
    sink, engine = delta_sink(tmp_path / "t"), PandasEngine()
    sink.write(engine, pa.table({"id": [3]}), key(3))
    result = sink.write(engine, pa.table({"id": [2]}), key(2))
    assert result.skipped
    dt = DeltaTable(str(tmp_path / "t"))
    assert dt.transaction_version("p/n") == 3
    assert dt.to_pyarrow_table().column("id").to_pylist() == [3]


def test_delta_merge_sink(tmp_path: Path) -> None:
    sink, engine = delta_sink(tmp_path / "t", mode="merge", merge_keys=["id"]), PandasEngine()
    sink.write(engine, pa.table({"id": [1, 2], "v": ["a", "b"]}), key(0))
    sink.write(engine, pa.table({"id": [2, 3], "v": ["B", "c"]}), key(1))
    got = sorted(
        DeltaTable(str(tmp_path / "t")).to_pyarrow_table().to_pylist(), key=lambda r: r["id"]
    )
    assert got == [{"id": 1, "v": "a"}, {"id": 2, "v": "B"}, {"id": 3, "v": "c"}]


def test_delta_sinks_of_different_nodes_are_independent(tmp_path: Path) -> None:
    sink, engine = delta_sink(tmp_path / "t"), PandasEngine()
    sink.write(engine, pa.table({"id": [1]}), BatchKey("p", "a", 5))
    assert not sink.already_written(BatchKey("p", "b", 0))


def file_sink(path: Path, fmt: str = "parquet", **kw: Any) -> FileSink:
    return FileSinkSpec("n", loc(path), WriteConfig(connection="c", format=fmt, path="out", **kw)).open()


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_file_sink_deterministic_name_once(tmp_path: Path, fmt: str) -> None:
    sink, engine = file_sink(tmp_path / "out", fmt), PandasEngine()
    result = sink.write(engine, pa.table({"id": [1, 2]}), key(7))
    name = f"part-{7:020d}-n-0.{fmt}"
    assert result.detail["file"] == str(tmp_path / "out" / name) and result.rows == 2
    assert sink.write(engine, pa.table({"id": [9]}), key(7)).skipped
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [name]
    back = engine.read_files([str(tmp_path / "out" / name)], fmt, {}).frame
    assert back.column("id").to_pylist() == [1, 2]
    assert sink.already_written(key(6)) and not sink.already_written(key(8))


def test_file_sink_overwrite_removes_older_parts(tmp_path: Path) -> None:
    sink, engine = file_sink(tmp_path / "out", mode="overwrite"), PandasEngine()
    sink.write(engine, pa.table({"id": [1]}), key(0))
    sink.write(engine, pa.table({"id": [2]}), key(1))
    files = list((tmp_path / "out").iterdir())
    assert [p.name for p in files] == [f"part-{1:020d}-n-0.parquet"]
    assert pq.read_table(files[0]).column("id").to_pylist() == [2]


def test_file_sink_rejects_partitioning(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        file_sink(tmp_path / "out", partition_by=["id"])


def test_delta_sink_survives_its_table_being_dropped_and_recreated(tmp_path: Path) -> None:
    import shutil

    from odibi_stream.clients.locations import Location
    from odibi_stream.config.models import WriteConfig
    from odibi_stream.connectors.base import BatchKey
    from odibi_stream.engines.pandas import PandasEngine

    engine = PandasEngine()
    table = tmp_path / "t"
    sink = DeltaSinkSpec("out", Location(uri=str(table), storage_options={}, is_local=True),
                         WriteConfig(connection="c", format="delta", path="t")).open()
    frame = pa.table({"a": [1, 2]})
    sink.write(engine, frame, BatchKey("p", "out", 3))
    assert sink.already_written(BatchKey("p", "out", 3))
    shutil.rmtree(table)  # an operator drops the table while the process keeps running
    assert not sink.already_written(BatchKey("p", "out", 4))
    sink.write(engine, frame, BatchKey("p", "out", 4))
    assert sink.already_written(BatchKey("p", "out", 4))
