"""The pandas engine's merge executor: a :class:`MergePlan` as one delta-rs MERGE commit.

The plan's SQL runs in DuckDB (the engine's ``sql``); SCD2 reads the history of the batch's
keys from the table through an Arrow dataset (projection pushed down). The MERGE carries the
batch's transaction ``(app_id, version)`` in the same commit (``CommitProperties``), under the
table's lock from :mod:`odibi_stream.clients.delta`, so the caller's idempotency check and this
write cannot interleave with another thread's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from odibi_stream.clients.delta import delta_table
from odibi_stream.engines.arrow_write import delta_compatible
from odibi_stream.engines.merge_sql import (
    NOW,
    POS,
    Dialect,
    MergePlan,
    MergeSpec,
    SqlRunner,
    clause_values,
    merge_counts,
    plan_merge,
)
from odibi_stream.exceptions import ConfigError, EngineError

DIALECT = Dialect(spark=False)


def _source(table: pa.Table, spec: MergeSpec) -> pa.Table:
    n = table.num_rows
    now = spec.time or datetime.now(timezone.utc)
    table = table.append_column(POS, pa.array(range(n), pa.int64()))
    return table.append_column(NOW, pa.array([now] * n, pa.timestamp("us", tz="UTC")))


def _create(uri: str, plan: MergePlan, spec: MergeSpec, opts: dict[str, str]) -> DeltaTable:
    empty = delta_compatible(plan.source.select(plan.columns).slice(0, 0))
    write_deltalake(uri, empty, mode="append", partition_by=list(spec.partition_by) or None, storage_options=opts)
    return DeltaTable(uri, storage_options=opts)


def _execute(table: DeltaTable, plan: MergePlan, txn: tuple[str, int] | None) -> dict[str, int]:
    commit = None
    if txn is not None:
        commit = CommitProperties(app_transactions=[Transaction(app_id=txn[0], version=txn[1])])
    merger = table.merge(
        delta_compatible(plan.source),
        plan.predicate,
        source_alias="s",
        target_alias="t",
        merge_schema=True,
        commit_properties=commit,
    )
    for clause in plan.clauses:
        values = clause_values(clause, plan, DIALECT)
        if clause.kind == "delete":
            merger = merger.when_matched_delete(predicate=clause.condition)
        elif clause.kind == "update":
            merger = merger.when_matched_update(updates=values, predicate=clause.condition)
        else:
            merger = merger.when_not_matched_insert(updates=values, predicate=clause.condition)
    return merge_counts(merger.execute())


def merge_arrow(
    sql: SqlRunner,
    table: pa.Table,
    uri: str,
    spec: MergeSpec,
    storage_options: Mapping[str, str] | None,
    txn: tuple[str, int] | None,
) -> tuple[int, dict[str, int]]:
    """Merge ``table`` into the Delta table at ``uri`` per ``spec``; return (version, counts).

    Raises:
        ConfigError: a merge column is missing or clashes with a system column.
        EngineError: delta-rs failed.
    """
    opts = dict(storage_options or {})
    src = _source(delta_compatible(table), spec)
    with delta_table(uri, opts) as existing:
        target = None
        if existing is not None and spec.strategy == "scd2":
            target = existing.to_pyarrow_dataset()
        plan = plan_merge(sql, DIALECT, src, src.column_names, spec, target)
        try:
            current = existing if existing is not None else _create(uri, plan, spec, opts)
            counts = _execute(current, plan, txn)
        except (OSError, ConfigError):
            raise
        except Exception as exc:
            raise EngineError(f"delta merge ({spec.strategy}) into {uri} failed: {exc}") from exc
        return int(current.version()), counts
