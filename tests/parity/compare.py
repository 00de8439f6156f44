"""Output comparison for the parity suite (see README.md for the type mapping and exclusions)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import DeltaTable

REL_TOL = 1e-9
# Columns whose values legitimately differ between engines (see README.md).
VOLATILE = {"_odibi_time", "_created_at", "_updated_at"}
PARSE_ERROR_TEXT = "_odibi_error"


def load(project: Path, rel: str, fmt: str) -> pa.Table:
    """Read one output (Delta table, parquet part files or jsonl part files) as Arrow."""
    path = project / rel
    if fmt == "delta":
        return DeltaTable(str(path)).to_pyarrow_table()
    if fmt == "parquet":
        return ds.dataset(str(path), format="parquet").to_table()
    lines = [
        json.loads(line)
        for f in sorted(path.glob("part-*.jsonl"))
        for line in f.read_text().splitlines()
        if line.strip()
    ]
    return pa.Table.from_pylist(lines)


def normalise_type(t: pa.DataType) -> str:
    """The documented mapping: Arrow types that mean the same column type on both engines."""
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_large_binary(t):
        return "binary"
    if pa.types.is_int32(t):
        # Spark's ranking functions (row_number, rank, dense_rank) return INT; DuckDB's BIGINT.
        return "int64"
    if pa.types.is_timestamp(t):
        return f"timestamp[{t.unit}{', UTC' if t.tz in ('UTC', '+00:00', 'Etc/UTC') else ''}]"
    return str(t)


def schema_of(table: pa.Table) -> dict[str, str]:
    """Column → normalised type; column order is not compared (Spark sorts inferred JSON)."""
    return {f.name: normalise_type(f.type) for f in table.schema}


def _canon(row: dict[str, Any], project: Path) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in VOLATILE}
    source = out.get("_odibi_source")
    if isinstance(source, str):
        # File sources are absolute paths of each engine's copy; line numbers are pandas-only.
        rel = source.replace(str(project) + "/", "")
        out["_odibi_source"] = rel.split(":")[0] if not rel.startswith("node:") else rel
        if not rel.startswith("node:"):
            out.pop(PARSE_ERROR_TEXT, None)  # parser messages are engine-specific wording
    return out


def _key(row: dict[str, Any]) -> str:
    return json.dumps(
        {k: (round(v, 6) if isinstance(v, float) else v) for k, v in sorted(row.items())},
        default=str,
    )


def rows_of(table: pa.Table, project: Path) -> list[dict[str, Any]]:
    """Rows as canonical dicts, sorted (a multiset in a stable order)."""
    return sorted((_canon(r, project) for r in table.to_pylist()), key=_key)


def same_value(a: Any, b: Any) -> bool:
    """Equality with floats compared at 1e-9 relative tolerance."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=0.0) or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def diff_rows(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> list[str]:
    """Human-readable differences between two sorted row lists (empty when equal)."""
    if len(left) != len(right):
        return [f"row counts differ: {len(left)} vs {len(right)}"]
    problems = []
    for i, (a, b) in enumerate(zip(left, right, strict=True)):
        if a.keys() != b.keys() or not all(same_value(a[k], b[k]) for k in a):
            problems.append(f"row {i}: {a} != {b}")
    return problems
