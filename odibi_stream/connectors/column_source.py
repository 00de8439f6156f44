"""The high-water-mark column source: a Delta table or Parquet folder read by a column.

Positions (values encoded with :mod:`odibi_stream.core.values`, so types survive the checkpoint):
    * range: ``{"lo": encoded | None, "hi": encoded}``: the batch is the rows with
      ``lo < column <= hi`` (``lo`` None = from the beginning).
    * state: ``{"hwm": encoded | None}``: the highest committed ``hi``.

Planning is engine-independent and cheap: DuckDB scans only the column of the table's Arrow
dataset (Delta through delta-rs). ``hi`` is the current maximum; with
``max_records_per_batch = N`` it is the N-th smallest value above ``lo``, and every row equal to
``hi`` is included, so a batch can exceed N when values tie at ``hi``.

``lookback`` (a duration such as ``1h`` for timestamps/dates, a number for numeric columns)
widens the read to ``lo - lookback < column <= hi``: rows near the previous high-water mark
are read again, to catch late-arriving rows, so the sink should be a merge (upsert) to stay
exactly-once. Rows with a null in the column are never read. Rows appended later with a value
at or below the high-water mark are only seen through ``lookback``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow.dataset as ds
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from odibi_stream.clients.locations import Location
from odibi_stream.config.base import parse_duration
from odibi_stream.config.models import ReadConfig
from odibi_stream.connectors.base import NoClients, Position
from odibi_stream.connectors.delta import delta_engine
from odibi_stream.connectors.storage_errors import azure_storage
from odibi_stream.core.values import decode_value, encode_value, sql_literal, to_utc
from odibi_stream.engines.base import Engine, ReadResult
from odibi_stream.exceptions import ConfigError, SourceError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ColumnSpec:
    """A validated column source; opens a :class:`ColumnSource`.

    Raises (on construction):
        ConfigError: not delta/parquet, no column, or a column that is not a plain identifier.
    """

    node: str
    location: Location
    read: ReadConfig

    def __post_init__(self) -> None:
        inc = self.read.incremental
        if (
            inc is None
            or inc.mode != "column"
            or not inc.column
            or self.read.format not in ("delta", "parquet")
        ):
            raise ConfigError(
                f"node {self.node}: a column source needs format delta/parquet and incremental.column"
            )
        if self.read.format == "parquet" and not self.location.is_local:
            raise ConfigError(
                f"node {self.node}: incremental column reads of parquet folders need a local folder",
                hint="on Azure storage, keep the table as Delta (format: delta)",
            )
        if not _IDENT.match(inc.column):
            raise ConfigError(
                f"node {self.node}: incremental column {inc.column!r} must be a plain identifier"
            )

    def open(self) -> ColumnSource:
        """A reader of the table (tables are opened per call)."""
        return ColumnSource(self)

    def watch(self) -> None:
        """Tables give no cheap change signal here: schedules and forced runs wake it."""
        return None


class ColumnSource(NoClients):
    """Source protocol implementation for ``incremental.mode: column`` (see module docstring)."""

    def __init__(self, spec: ColumnSpec) -> None:
        inc = spec.read.incremental
        assert inc is not None and inc.column is not None  # validated by the spec
        self.node = spec.node
        self._location = spec.location
        self._uri = spec.location.uri
        self._options = dict(spec.location.storage_options)
        self._format = spec.read.format
        self._column = inc.column
        self._lookback = inc.lookback
        self._max_records = inc.max_records_per_batch

    def _dataset(self) -> ds.Dataset | None:
        try:
            if self._format == "delta":
                return DeltaTable(self._uri, storage_options=self._options).to_pyarrow_dataset()
            return ds.dataset(self._uri, format="parquet")
        except (TableNotFoundError, FileNotFoundError):
            return None

    def _scan(self, sql: str) -> list[Any]:
        """Run ``sql`` (over table ``t`` = only the column) and return its first column's values."""
        with azure_storage(self._location, f"node {self.node}: scanning", SourceError):
            dataset = self._dataset()
        if dataset is None:
            return []
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone='UTC'")
            con.register("t", dataset)
            values = con.sql(sql).to_arrow_table().column(0).to_pylist()
        except duckdb.Error as exc:
            raise SourceError(
                f"node {self.node}: cannot scan {self._column}: {exc}", retryable=False
            ) from exc
        finally:
            con.close()
        return [to_utc(v) if isinstance(v, datetime) else v for v in values]

    def _above(self, lo: Any) -> str:
        col = self._column
        return f"{col} IS NOT NULL" if lo is None else f"{col} > {sql_literal(lo)}"

    # -- Source protocol -------------------------------------------------------------------
    def initial_state(self) -> Position:
        """No high-water mark yet: the first batch starts at the beginning."""
        return {"hwm": None}

    def fold(self, state: Position, rng: Position) -> Position:
        """The committed ``hi`` becomes the high-water mark."""
        return {"hwm": rng["hi"]}

    def plan(self, state: Position) -> Position | None:
        """``(hwm, hi]`` with hi = max (or the N-th value for max_records_per_batch)."""
        lo = decode_value(state.get("hwm"))
        col = self._column
        if self._max_records is None:
            values = self._scan(f"SELECT max({col}) FROM t WHERE {self._above(lo)}")
        else:
            values = self._scan(
                f"SELECT {col} FROM t WHERE {self._above(lo)} ORDER BY {col} LIMIT {self._max_records}"
            )
            values = values[-1:]
        if not values or values[0] is None:
            return None
        return {"lo": state.get("hwm"), "hi": encode_value(values[0])}

    def read(self, engine: Engine, rng: Position) -> ReadResult:
        """Rows with ``lo - lookback < column <= hi``, read through the engine."""
        lo = decode_value(rng.get("lo"))
        hi = decode_value(rng["hi"])
        if lo is not None and self._lookback:
            lo = lo - self._lookback_delta(lo)
        where = f"{self._above(lo)} AND {self._column} <= {sql_literal(hi)}"
        with azure_storage(self._location, f"node {self.node}: reading", SourceError):
            if self._format == "delta":
                return ReadResult(delta_engine(engine).read_delta(self._uri, self._options, where))
            return ReadResult(engine.read_table(self._uri, "parquet", self._options, where))

    def _lookback_delta(self, lo: Any) -> Any:
        text = str(self._lookback)
        if isinstance(lo, (datetime, date)):
            delta = parse_duration(text)
            return delta if isinstance(lo, datetime) else timedelta(days=delta.days)
        if isinstance(lo, bool) or not isinstance(lo, (int, float, Decimal)):
            raise ConfigError(
                f"node {self.node}: lookback is not supported for {type(lo).__name__} columns"
            )
        if isinstance(lo, int):
            return int(text)
        return Decimal(text) if isinstance(lo, Decimal) else float(text)

    def range_size(self, rng: Position) -> dict[str, int]:
        """Column sources do not know a batch's size before reading it."""
        return {}

    def lag(self, state: Position) -> dict[str, int] | None:
        """Rows above the high-water mark."""
        rows = self._scan(
            f"SELECT count(*) FROM t WHERE {self._above(decode_value(state.get('hwm')))}"
        )
        return {"rows": int(rows[0]) if rows else 0}

    def on_commit(self, rng: Position) -> None:
        """Nothing to acknowledge: the checkpoint is the only position."""
