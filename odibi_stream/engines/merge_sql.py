"""Merge strategies planned in SQL, the same text for both engines (DuckDB and Spark SQL).

A batch of changes becomes a :class:`MergePlan`: a *source* frame holding every column the
table keeps plus control columns, one MERGE predicate, and ordered WHEN clauses. The engine's
merge executor (``merge_arrow`` with delta-rs, ``merge_spark`` with delta-spark) runs it as
**one** Delta commit carrying the batch's transaction id, so the data, the closing of SCD2
versions and the idempotency marker land atomically.

Semantics (documented for users in the ``write.merge`` config):

* **sequence_by** — within a batch the latest change per key wins; ties go to a delete, then to
  the later input row (deterministic for a replayed range). A change whose sequence is not
  newer than the row the table holds is ignored, so late CDC events never regress a row.
  With hard deletes a key's row is gone, so a change older than the delete arriving in a *later*
  batch inserts it again; soft deletes keep the row (``_is_deleted``) and prevent that.
* **upsert** — update matched rows, insert new keys, delete (or mark) deleted keys.
* **scd1** — upsert, but a matched row whose values did not change keeps its audit times (only
  its sequence advances).
* **scd2** — every change newer than the key's history becomes a version ``[_valid_from,
  _valid_to)`` in sequence order, several per key per batch included; the table's current
  version is closed (``_valid_to`` = the first new sequence, ``_is_current`` = false) in the
  same commit. A hard delete closes the open version; a soft delete adds a deleted version.
  Without sequence_by, ``_valid_from`` is the batch's planned time (one version per key per
  batch). Rows with a NULL sequence are ignored.
* **append_only** — insert rows whose key is new; never update or delete.
* **delete_insert** — delete every row of each key in the batch, insert the batch's rows.
* **audit columns** — ``_created_at`` (insert), ``_updated_at`` (insert/update/close) = the
  batch's planned time (a replay writes the same), ``_odibi_batch`` = the batch number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from odibi_stream.config.semantics import DELETED_COLUMN, SYSTEM_COLUMNS
from odibi_stream.core.values import sql_literal
from odibi_stream.exceptions import ConfigError

POS = "_odibi_pos"
NOW = "_odibi_now"
DEL = "_odibi_del"
ACTION = "_odibi_action"
CONTROL = (POS, NOW, DEL, ACTION)

Frame = Any
SqlRunner = Callable[[str, Mapping[str, Any]], Frame]


@dataclass(frozen=True)
class MergeSpec:
    """One merge of one batch (built by the Delta sink from ``write.merge``)."""

    keys: tuple[str, ...]
    strategy: str = "upsert"
    sequence_by: str | None = None
    delete_column: str | None = None
    delete_value: Any = None
    soft_delete: bool = False
    audit: bool = False
    batch: int = 0
    time: datetime | None = None
    partition_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Clause:
    """One WHEN clause: ``kind`` on matched rows (update/delete) or not matched (insert)."""

    kind: Literal["update", "delete", "insert"]
    condition: str | None = None
    set: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MergePlan:
    """What the executor runs: ``MERGE INTO t USING source s ON predicate`` + clauses."""

    source: Frame
    predicate: str
    clauses: list[Clause]
    columns: list[str]


@dataclass(frozen=True)
class Dialect:
    """Identifier quoting and literals of the engine's SQL and of its merge expressions."""

    spark: bool

    def q(self, name: str) -> str:
        """Quote an identifier (backticks for Spark, double quotes for DuckDB/DataFusion)."""
        if self.spark:
            return "`" + name.replace("`", "``") + "`"
        return '"' + name.replace('"', '""') + '"'

    def lit(self, value: Any) -> str:
        """A literal of this dialect."""
        return sql_literal(value, "spark" if self.spark else "duckdb")


def data_columns(columns: Sequence[str], spec: MergeSpec) -> list[str]:
    """Columns of the batch the table keeps (without control columns and the op column).

    Raises:
        ConfigError: a key / sequence / op column is missing, or a column clashes with the
            runtime's system columns.
    """
    needed = [*spec.keys, *([spec.sequence_by] if spec.sequence_by else [])]
    needed += [spec.delete_column] if spec.delete_column else []
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ConfigError(f"merge column(s) {missing} not in the data", hint=f"columns are {list(columns)}")
    clash = sorted(set(columns) & SYSTEM_COLUMNS - {"_rescued_data"})
    if clash:
        raise ConfigError(
            f"the data has column(s) {clash} that the merge maintains itself",
            hint="drop or rename them in a transform (a read of a table this merge wrote brings them along)",
        )
    return [c for c in columns if c not in CONTROL and c != spec.delete_column]


def _audit(d: Dialect, spec: MergeSpec, now: str) -> dict[str, str]:
    if not spec.audit:
        return {}
    return {"_created_at": now, "_updated_at": now, "_odibi_batch": f"CAST({spec.batch} AS BIGINT)"}


class _Builder:
    """Builds the plan's SQL for one spec over the columns of one batch."""

    def __init__(self, d: Dialect, spec: MergeSpec, cols: list[str]) -> None:
        self.d, self.spec, self.cols = d, spec, cols
        self.keys = list(spec.keys)
        self.seq = d.q(spec.sequence_by) if spec.sequence_by else None

    def qs(self, names: Sequence[str], prefix: str = "") -> str:
        return ", ".join(prefix + self.d.q(n) for n in names)

    def on_keys(self, left: str, right: str) -> str:
        return " AND ".join(f"{left}.{self.d.q(k)} = {right}.{self.d.q(k)}" for k in self.keys)

    def prepared(self) -> str:
        spec, d = self.spec, self.d
        flag = "FALSE"
        if spec.delete_column:
            flag = f"coalesce({d.q(spec.delete_column)} = {d.lit(spec.delete_value)}, FALSE)"
        return f"SELECT {self.qs(self.cols)}, {flag} AS {DEL}, {NOW}, {POS} FROM src"

    def dedup(self, per_sequence: bool) -> str:
        part = self.qs(self.keys) + (f", {self.seq}" if per_sequence and self.seq else "")
        # Without a sequence the later input row wins; with one, a delete wins a tie.
        order = [f"{POS} DESC"]
        if self.seq:
            order = [f"{DEL} DESC", *order]
            if not per_sequence:
                order = [f"{self.seq} DESC NULLS LAST", *order]
        ranked = f"SELECT p.*, row_number() OVER (PARTITION BY {part} ORDER BY {', '.join(order)}) AS _odibi_rank FROM ({self.prepared()}) p"
        return f"SELECT * FROM ({ranked}) r WHERE _odibi_rank = 1"

    def select(self, exprs: Mapping[str, str], frm: str, where: str = "", group: str = "") -> str:
        body = ", ".join(f"{e} AS {self.d.q(n)}" for n, e in exprs.items())
        return f"SELECT {body} FROM {frm}" + (f" WHERE {where}" if where else "") + (f" GROUP BY {group}" if group else "")


def plan_merge(
    sql: SqlRunner, d: Dialect, src: Frame, columns: Sequence[str], spec: MergeSpec, target: Frame | None
) -> MergePlan:
    """Plan ``spec`` over ``src`` (which carries :data:`POS` and :data:`NOW` columns).

    Args:
        sql: The engine's ``sql(query, tables)``.
        d: The engine's dialect.
        src: The batch, with an input-position and a batch-time column added.
        columns: ``src``'s columns.
        spec: The merge.
        target: A lazy view of the table (scd2 reads the history of the batch's keys from
            it), or None when the table does not exist yet.
    """
    b = _Builder(d, spec, data_columns(columns, spec))
    planners = {"scd2": _scd2, "delete_insert": _delete_insert}
    planner = planners.get(spec.strategy, _upsert)
    query, tables, predicate, clauses, columns_out = planner(b, {"src": src, "target": target})
    return MergePlan(sql(query, tables), predicate, clauses, columns_out)


def clause_values(clause: Clause, plan: MergePlan, d: Dialect) -> dict[str, str]:
    """The column → expression assignments of ``clause`` (an insert without any sets all)."""
    if clause.kind == "insert" and not clause.set:
        return {c: f"s.{d.q(c)}" for c in plan.columns}
    return dict(clause.set)


_Planned = tuple[str, dict[str, Any], str, list[Clause], list[str]]


def _upsert(b: _Builder, frames: dict[str, Any]) -> _Planned:
    d, spec = b.d, b.spec
    exprs = {c: d.q(c) for c in b.cols}
    if spec.soft_delete:
        exprs[DELETED_COLUMN] = DEL
    exprs.update(_audit(d, spec, NOW))
    target = list(exprs)
    exprs[DEL] = DEL
    query = b.select(exprs, f"({b.dedup(per_sequence=False)}) x")
    s_del, t = f"s.{DEL}", "t"
    newer = "TRUE"
    if b.seq:
        newer = f"(t.{b.seq} IS NULL OR s.{b.seq} > t.{b.seq})"
    audit_set = {c: f"s.{d.q(c)}" for c in ("_updated_at", "_odibi_batch") if spec.audit}
    clauses: list[Clause] = []
    if spec.strategy != "append_only":
        if spec.delete_column and not spec.soft_delete:
            clauses.append(Clause("delete", f"{s_del} AND {newer}"))
        elif spec.delete_column:
            marks = {DELETED_COLUMN: "TRUE", **({spec.sequence_by: f"s.{b.seq}"} if b.seq and spec.sequence_by else {}), **audit_set}
            clauses.append(Clause("update", f"{s_del} AND {newer}", marks))
        values = [c for c in b.cols if c not in spec.keys]
        if spec.strategy == "scd1":
            # Parenthesised: DataFusion binds IS NOT DISTINCT FROM looser than AND.
            same = [f"({t}.{d.q(c)} IS NOT DISTINCT FROM s.{d.q(c)})" for c in values if c != spec.sequence_by]
            if spec.soft_delete:
                same.append(f"(NOT {t}.{d.q(DELETED_COLUMN)})")
            unchanged = " AND ".join(same) or "TRUE"
            only_seq = {spec.sequence_by: f"s.{b.seq}"} if b.seq and spec.sequence_by else {}
            if only_seq:
                clauses.append(Clause("update", f"NOT {s_del} AND {newer} AND {unchanged}", only_seq))
            newer = f"{newer} AND NOT ({unchanged})"
        sets = {c: f"s.{d.q(c)}" for c in values}
        if spec.soft_delete:
            sets[DELETED_COLUMN] = "FALSE"
        sets.update(audit_set)
        if sets:
            clauses.append(Clause("update", f"NOT {s_del} AND {newer}", sets))
    clauses.append(Clause("insert", None if spec.soft_delete else f"NOT {s_del}"))
    return query, {"src": frames["src"]}, b.on_keys("t", "s"), clauses, target


def _delete_insert(b: _Builder, frames: dict[str, Any]) -> _Planned:
    d, spec = b.d, b.spec
    rows = {c: d.q(c) for c in b.cols}
    if spec.soft_delete:
        rows[DELETED_COLUMN] = DEL
    rows.update(_audit(d, spec, NOW))
    target = list(rows)
    inserts = b.select({**rows, ACTION: "'i'"}, f"({b.prepared()}) p", "" if spec.soft_delete else f"NOT {DEL}")
    blanks = {c: (d.q(c) if c in spec.keys else "NULL") for c in target}
    deletes = b.select({**blanks, ACTION: "'d'"}, f"(SELECT DISTINCT {b.qs(b.keys)} FROM src) k")
    predicate = f"{b.on_keys('t', 's')} AND s.{ACTION} = 'd'"
    clauses = [Clause("delete", None), Clause("insert", f"s.{ACTION} = 'i'")]
    return f"{inserts} UNION ALL {deletes}", {"src": frames["src"]}, predicate, clauses, target


def _scd2(b: _Builder, frames: dict[str, Any]) -> _Planned:
    d, spec = b.d, b.spec
    seq = b.seq or NOW
    ctes = [f"dd AS ({b.dedup(per_sequence=True)})"]
    tables: dict[str, Any] = {"src": frames["src"]}
    keep = f"dd.{seq} IS NOT NULL"
    if frames["target"] is not None:
        known = (
            f"SELECT {b.qs(b.keys, 't.')}, max(coalesce(t.{d.q('_valid_to')}, t.{d.q('_valid_from')})) AS _odibi_known "
            f"FROM target t JOIN (SELECT DISTINCT {b.qs(b.keys)} FROM src) bk ON {b.on_keys('t', 'bk')} "
            f"GROUP BY {b.qs(b.keys, 't.')}"
        )
        ctes.append(f"kn AS ({known})")
        ctes.append(
            f"ev AS (SELECT dd.* FROM dd LEFT JOIN kn ON {b.on_keys('dd', 'kn')} "
            f"WHERE {keep} AND (kn._odibi_known IS NULL OR dd.{seq} > kn._odibi_known))"
        )
        tables["target"] = frames["target"]
    else:
        ctes.append(f"ev AS (SELECT dd.* FROM dd WHERE {keep})")
    ctes.append(f"v AS (SELECT ev.*, LEAD({seq}) OVER (PARTITION BY {b.qs(b.keys)} ORDER BY {seq}) AS _odibi_next FROM ev)")
    rows = {c: d.q(c) for c in b.cols}
    if spec.soft_delete:
        rows[DELETED_COLUMN] = DEL
    rows.update({"_valid_from": seq, "_valid_to": "_odibi_next", "_is_current": "(_odibi_next IS NULL)"})
    rows.update(_audit(d, spec, NOW))
    target = list(rows)
    inserts = b.select({**rows, ACTION: "'insert'"}, "v", "" if spec.soft_delete else f"NOT {DEL}")
    close = {c: (d.q(c) if c in spec.keys else "NULL") for c in target}
    close.update({"_valid_to": f"min({seq})", "_is_current": "FALSE"})
    close.update({c: f"max({NOW})" for c in ("_created_at", "_updated_at") if spec.audit})
    if spec.audit:
        close["_odibi_batch"] = f"CAST({spec.batch} AS BIGINT)"
    closes = b.select({**close, ACTION: "'close'"}, "ev", group=b.qs(b.keys))
    query = f"WITH {', '.join(ctes)} {inserts} UNION ALL {closes}"
    predicate = f"{b.on_keys('t', 's')} AND t.{d.q('_is_current')} = TRUE AND s.{ACTION} = 'close'"
    sets = {"_valid_to": f"s.{d.q('_valid_to')}", "_is_current": "FALSE"}
    sets.update({c: f"s.{d.q(c)}" for c in ("_updated_at", "_odibi_batch") if spec.audit})
    clauses = [Clause("update", None, sets), Clause("insert", f"s.{ACTION} = 'insert'")]
    return query, tables, predicate, clauses, target


def merge_counts(raw: Mapping[str, Any]) -> dict[str, int]:
    """Inserted/updated/deleted row counts from either engine's merge metrics."""
    def pick(*names: str) -> int:
        for n in names:
            if raw.get(n) is not None:
                return int(raw[n])
        return 0

    return {
        "inserted": pick("num_target_rows_inserted", "num_inserted_rows"),
        "updated": pick("num_target_rows_updated", "num_updated_rows"),
        "deleted": pick("num_target_rows_deleted", "num_deleted_rows"),
    }
