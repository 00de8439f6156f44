"""Projects whose data and checkpoints all live on Azure storage (Azurite), for tests.

:func:`azure_project` writes a project with three azure_blob connections — ``landing`` (files
land here), ``lake`` (Delta, dead letters, part files) and ``ckpt`` (checkpoints) — each in its
own container, and returns helpers to land files and read the outputs through the same
translations the runtime uses.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from deltalake import DeltaTable

from odibi_stream.clients.azure_files import BlobFileSystem
from odibi_stream.clients.azure_options import abfs_uri, object_store_options
from tests.azurite_fixtures import AzuriteAccount, new_container
from tests.conftest import write_project

ODIBI = """\
project: azure_test
engine: {engine}
checkpoint: {{connection: ckpt, path: _checkpoints, retain_batches: {retain}}}
runtime: {{lease_ttl_seconds: {ttl}}}
spark: {{master: "local[2]", conf: {{spark.sql.shuffle.partitions: 2}}}}
connections:
  landing: {{type: azure_blob, container: {landing}, endpoint: "{endpoint}", auth: {{account_key: "{key}"}}}}
  lake: {{type: azure_blob, container: {lake}, endpoint: "{endpoint}", auth: {{account_key: "{key}"}}}}
  ckpt: {{type: azure_blob, container: {ckpt}, endpoint: "{endpoint}", auth: {{account_key: "{key}"}}}}
"""

EVENTS = """\
pipeline: events
on_error: dead_letter
dead_letter: {{connection: lake, path: dlq, format: {dead_letter}}}
{trigger}nodes:
  - name: raw
    read:
      connection: landing
      format: jsonl
      path: in/*.jsonl
      options: {{schema: {{id: int64, amount: int64, kind: string}}}}
      incremental: {{mode: files, max_files_per_batch: {max_files}, settle_seconds: {settle}{after_read}}}
  - name: shaped
    depends_on: [raw]
    transform: {{sql: "SELECT id, amount * 2 AS doubled, kind FROM raw"}}
    checks:
      - {{name: non_negative, expr: "doubled >= 0"}}
  - name: sink
    depends_on: [shaped]
    write: {{connection: lake, format: delta, path: tables/events, mode: append}}
"""


@dataclass
class AzureProject:
    """A project on Azurite plus handles on its three containers."""

    root: Path
    account: AzuriteAccount
    landing: str
    lake: str
    ckpt: str

    def fs(self, container: str, root: str = "") -> BlobFileSystem:
        """A file system on one of the containers (close it)."""
        return BlobFileSystem.open(self.account.target(container), root)

    def land(self, name: str, ids: list[int], *, bad: list[str] = ()) -> None:  # type: ignore[assignment]
        """Upload ``in/<name>`` with one JSON line per id (plus raw ``bad`` lines)."""
        lines = [json.dumps({"id": i, "amount": i % 97, "kind": f"k{i % 5}"}) for i in ids]
        body = "\n".join([*lines, *bad]) + "\n"
        with self.fs(self.landing) as fs:
            fs.upload(f"in/{name}", body.encode())

    def land_many(self, n_files: int, rows: int, start: int = 0) -> list[int]:
        """Land ``n_files`` files of ``rows`` unique ids starting at ``start``; return the ids."""
        ids: list[int] = []
        for f in range(n_files):
            chunk = [start + f * rows + r for r in range(rows)]
            self.land(f"in-{start + f:07d}.jsonl", chunk)
            ids += chunk
        return ids

    def table(self, path: str = "tables/events") -> DeltaTable:
        """The Delta table at ``path`` in the lake container (read with delta-rs)."""
        target = self.account.target(self.lake)
        return DeltaTable(abfs_uri(target, path), storage_options=dict(object_store_options(target)))

    def ids(self, path: str = "tables/events") -> Counter[int]:
        """Multiset of ``id`` values in the Delta table (empty if it does not exist yet)."""
        from deltalake.exceptions import TableNotFoundError

        try:
            table = self.table(path)
        except TableNotFoundError:
            return Counter()
        return Counter(table.to_pyarrow_table(columns=["id"]).column("id").to_pylist())

    def drop(self) -> None:
        """Delete the three containers."""
        from tests.azurite_fixtures import drop_container

        for name in (self.landing, self.lake, self.ckpt):
            drop_container(self.account, name)


def azure_project(
    root: Path,
    account: AzuriteAccount,
    *,
    engine: str = "pandas",
    dead_letter: str = "jsonl",
    max_files: int = 3,
    settle: float = 0,
    after_read: str | None = None,
    trigger: str | None = None,
    retain: int = 100,
    ttl: float = 30,
) -> AzureProject:
    """Write the project (pipeline ``events``) and create its three containers."""
    landing, lake, ckpt = (new_container(account, p) for p in ("landing", "lake", "ckpt"))
    odibi = ODIBI.format(
        engine=engine, retain=retain, ttl=ttl, landing=landing, lake=lake, ckpt=ckpt,
        endpoint=account.endpoint, key=account.account_key,
    )
    extra = ""
    if after_read == "archive":
        extra = ", after_read: archive, archive_path: archive"
    elif after_read == "delete":
        extra = ", after_read: delete"
    events = EVENTS.format(
        dead_letter=dead_letter, max_files=max_files, settle=settle, after_read=extra,
        trigger=f"trigger: {trigger}\n" if trigger else "",
    )
    write_project(root, {"events": events}, odibi_yaml=odibi)
    return AzureProject(root, account, landing, lake, ckpt)
