"""The files source on a Blob prefix (Azurite): identity, settle rule, markers, bounds, exact
reads of the planned versions, after_read by copy+delete (idempotent), the listing probe."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from odibi_stream.clients.azure_files import BlobFileSystem
from odibi_stream.clients.azure_options import abfs_uri, object_store_options
from odibi_stream.clients.locations import BlobRoot, Location
from odibi_stream.config.models import IncrementalConfig, ReadConfig
from odibi_stream.connectors.blob_files import BlobFiles
from odibi_stream.connectors.files import FileSource, FilesSpec
from odibi_stream.core.clock import ManualClock
from odibi_stream.core.wake import PollWatch
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import ConfigError, SourceError, is_retryable
from tests.azurite_fixtures import AzuriteAccount

BASE = "zone"


def blob_location(account: AzuriteAccount, container: str, path: str) -> Location:
    """What resolve_location gives for ``path`` on a connection with base_path ``zone``."""
    target = account.target(container)
    return Location(
        abfs_uri(target, f"{BASE}/{path}"),
        dict(object_store_options(target)),
        False,
        BlobRoot(target, BASE, path),
    )


@pytest.fixture
def fs(azurite: AzuriteAccount, azure_container: str) -> Iterator[BlobFileSystem]:
    with BlobFileSystem.open(azurite.target(azure_container), BASE) as files:
        yield files


@pytest.fixture
def clock() -> ManualClock:
    # Ahead of real time by a minute: everything uploaded now is 60 s old ("settled").
    return ManualClock(datetime.now(timezone.utc) + timedelta(seconds=60))


def spec(
    account: AzuriteAccount,
    container: str,
    clock: ManualClock,
    glob: str = "in/*.csv",
    fmt: str = "csv",
    **inc: Any,
) -> FilesSpec:
    read = ReadConfig(
        connection="lake", format=fmt, path=glob, incremental=IncrementalConfig(mode="files", **inc)
    )
    return FilesSpec("raw", blob_location(account, container, glob), read, clock)


def drain(src: FileSource) -> list[list[str]]:
    state, batches = src.initial_state(), []
    while (rng := src.plan(state)) is not None:
        batches.append([f["path"] for f in rng["files"]])
        state = src.fold(state, rng)
    return batches


def test_identity_bounds_and_exact_reads(
    azurite: AzuriteAccount, azure_container: str, fs: BlobFileSystem, clock: ManualClock
) -> None:
    fs.upload("in/a.csv", b"id,v\n1,x\n2,y\n")
    fs.upload("in/b.csv", b"id,v\n3,z\n")
    fs.upload("in/_tmp.csv", b"id,v\n9,no\n")  # writer temp names are never data
    fs.upload("in/sub/c.csv", b"id,v\n8,no\n")  # not matched by in/*.csv
    fs.upload("other/d.csv", b"id,v\n7,no\n")
    src = spec(azurite, azure_container, clock, max_files_per_batch=1).open()
    try:
        rng = src.plan(src.initial_state())
        assert rng is not None and len(rng["files"]) == 1
        entry = rng["files"][0]
        assert entry["path"] == "in/a.csv" and entry["size"] == 13
        assert entry["etag"].startswith('"') and entry["mtime_ns"] % 1_000_000_000 == 0
        rows = src.read(PandasEngine(), rng).frame.to_pylist()
        assert rows == [{"id": 1, "v": "x"}, {"id": 2, "v": "y"}]
        state = src.fold(src.initial_state(), rng)
        assert state["seen"]["in/a.csv"] == [13, entry["mtime_ns"], entry["etag"]]
        second = src.plan(state)
        assert second is not None and [f["path"] for f in second["files"]] == ["in/b.csv"]
        assert src.range_size(second) == {"files": 1, "bytes": 9}
        assert src.lag(state) == {"files": 1}
        # A rewrite (new etag) after planning: the planned version can no longer be read.
        fs.upload("in/b.csv", b"id,v\n3,changed\n", overwrite=True)
        with pytest.raises(SourceError) as info:
            src.read(PandasEngine(), second)
        assert not is_retryable(info.value) and "changed" in info.value.message
        # ... and the rewritten file is new data for the next plan.
        replanned = src.plan(state)
        assert replanned is not None and replanned["files"][0]["etag"] != second["files"][0]["etag"]
    finally:
        src.close()


def test_settle_rule_by_last_modified_and_markers(
    azurite: AzuriteAccount, azure_container: str, fs: BlobFileSystem
) -> None:
    clock = ManualClock(datetime.now(timezone.utc))
    fs.upload("in/a.csv", b"id\n1\n")
    src = spec(azurite, azure_container, clock, settle_seconds=30).open()
    marked = spec(azurite, azure_container, clock, glob="in/*", settle_seconds=3600, marker_suffix=".ok").open()
    try:
        assert src.plan(src.initial_state()) is None  # seconds old, settle is 30 s
        clock.advance(31)
        assert drain(src) == [["in/a.csv"]]
        assert marked.plan(marked.initial_state()) is None
        fs.upload("in/a.csv.ok", b"")
        assert drain(marked) == [["in/a.csv"]]  # the marker itself is never data
    finally:
        src.close()
        marked.close()


def test_max_records_counts_by_downloading_once(
    azurite: AzuriteAccount, azure_container: str, fs: BlobFileSystem, clock: ManualClock
) -> None:
    fs.upload("in/a.jsonl", b'{"id":1}\n{"id":2}\n{"id":3}\n')
    fs.upload("in/b.jsonl", b'{"id":4}\n')
    src = spec(azurite, azure_container, clock, glob="in/*.jsonl", fmt="jsonl", max_records_per_batch=3).open()
    try:
        assert drain(src) == [["in/a.jsonl"], ["in/b.jsonl"]]
    finally:
        src.close()


@pytest.mark.parametrize("action", ["archive", "delete"])
def test_after_read_is_copy_delete_idempotent_and_spares_rewrites(
    azurite: AzuriteAccount, azure_container: str, fs: BlobFileSystem, clock: ManualClock, action: str
) -> None:
    fs.upload("in/a.csv", b"id\n1\n")
    fs.upload("in/a.csv.done", b"")
    fs.upload("in/b.csv", b"id\n2\n")
    extra = {"archive_path": "archive"} if action == "archive" else {}
    src = spec(
        azurite, azure_container, clock, glob="in/*.csv", after_read=action, marker_suffix=".done", **extra
    ).open()
    try:
        rng = src.plan(src.initial_state())
        assert rng is not None and [f["path"] for f in rng["files"]] == ["in/a.csv", "in/b.csv"]
        fs.upload("in/b.csv", b"id\n2\n3\n", overwrite=True)  # rewritten after planning
        src.on_commit(rng)
        src.on_commit(rng)  # replayed after a crash: nothing breaks, nothing moves twice
        names = [f.name for f in fs.list("", recursive=True)]
        if action == "archive":
            assert names == ["archive/in/a.csv", "archive/in/a.csv.done", "in/b.csv"]
            assert fs.read_bytes("archive/in/a.csv") == b"id\n1\n"
        else:
            assert names == ["in/b.csv"]
        assert fs.read_bytes("in/b.csv") == b"id\n2\n3\n"  # the rewrite is new data, kept
    finally:
        src.close()


def test_watch_is_a_listing_poll_that_changes_on_new_files_and_on_settling(
    azurite: AzuriteAccount, azure_container: str, fs: BlobFileSystem
) -> None:
    clock = ManualClock(datetime.now(timezone.utc))
    watch = spec(azurite, azure_container, clock, settle_seconds=30).watch()
    assert isinstance(watch, PollWatch) and watch.folder
    assert watch.name == f"files:az://devstoreaccount1/{azure_container}/zone/in/*.csv (endpoint {azurite.endpoint})"
    probe = watch.open_probe()
    try:
        empty = probe.positions()
        assert probe.positions() == empty
        fs.upload("in/a.csv", b"id\n1\n")
        fs.upload("in/a.txt", b"not matched")
        arrived = probe.positions()
        assert arrived != empty
        clock.advance(31)
        assert probe.positions() != arrived  # a.csv became settled: wake the pipeline again
    finally:
        probe.close()


def test_rejects_name_the_blob_not_the_local_copy(
    azurite: AzuriteAccount, azure_container: str, fs: BlobFileSystem, clock: ManualClock
) -> None:
    fs.upload("in/a.jsonl", b'{"id": 1}\nnot json\n')
    src = spec(azurite, azure_container, clock, glob="in/*.jsonl", fmt="jsonl").open()
    try:
        rng = src.plan(src.initial_state())
        assert rng is not None
        result = src.read(PandasEngine(), rng)
        assert result.frame.num_rows == 1
        [reject] = result.rejects
        target = azurite.target(azure_container)
        assert reject.source.startswith(abfs_uri(target, "zone/in/a.jsonl"))
    finally:
        src.close()


def test_outage_is_retryable(azurite: AzuriteAccount, clock: ManualClock) -> None:
    dead = AzuriteAccount("http://127.0.0.1:9/devstoreaccount1")  # nothing listens there
    read = ReadConfig(
        connection="lake", format="csv", path="in/*.csv", incremental=IncrementalConfig(mode="files")
    )
    store = BlobFiles(BlobRoot(dead.target("c"), BASE, "in/*.csv"), read, clock)
    try:
        with pytest.raises(Exception) as info:
            store.listing()
        assert is_retryable(info.value)
    finally:
        store.close()


def test_non_blob_remote_locations_are_config_errors() -> None:
    read = ReadConfig(
        connection="bus", format="csv", path="in/*.csv", incremental=IncrementalConfig(mode="files")
    )
    with pytest.raises(ConfigError, match="local folders and azure_blob/adls"):
        FilesSpec("raw", Location("kafka://x:1", {}, False), read)
