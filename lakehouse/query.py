"""SQL over the raw tier: DuckDB in memory, reading the Delta tables through Arrow.

Each raw table is registered twice: ``<table>`` (the current version of every key) and
``<table>_history`` (every version, with provenance columns). Tables are read with the
``deltalake`` package and handed to DuckDB as Arrow, because DuckDB's own ``delta_scan``
downloads an extension at run time. After registration DuckDB's external access is switched
off and its configuration locked, and every statement first passes
:func:`lakehouse.sql_guard.check_read_only`; answers carry the Delta version of every table
they could read, for provenance.

Usage::

    engine = QueryEngine(settings)
    engine.sql("SELECT split, count(*) FROM reports GROUP BY split")
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
from typing import Any

from pydantic import BaseModel, Field

from core.errors import SageError
from core.settings import Settings
from lakehouse.raw.schema import TABLES
from lakehouse.raw.store import RawStore
from lakehouse.sql_guard import check_read_only

log = logging.getLogger(__name__)


class QueryError(SageError):
    """DuckDB could not run a statement that passed the guard (unknown column, type error...)."""


class QueryResult(BaseModel):
    """Rows of one read-only query, with the snapshot it read."""

    columns: list[str]
    rows: list[list[Any]]
    sql: str = Field(description="The statement as executed (normalised by the guard).")
    row_count: int
    truncated: bool = Field(False, description="More rows matched than max_rows; only the first max_rows are returned.")
    table_versions: dict[str, int | None] = Field(default_factory=dict, description="Delta version of each raw table read.")

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _plain(value: Any) -> Any:
    # JSON-friendly values: dates as ISO strings, decimals as floats.
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class QueryEngine:
    """Read-only DuckDB views over one lakehouse, built once from the current Delta snapshots."""

    def __init__(self, settings: Settings) -> None:
        import duckdb

        self.store = RawStore(settings)
        self.table_versions = self.store.table_versions()
        self._con = duckdb.connect(":memory:")
        self._tables: set[str] = set()
        for table in TABLES:
            history = self.store.scan(table, history=True)
            current = self.store.scan(table)
            self._con.register(table, current)
            self._con.register(f"{table}_history", history)
            self._tables |= {table, f"{table}_history"}
        # Second lock behind the guard: no file, network or extension access, no settings changes.
        self._con.execute("SET enable_external_access = false")
        self._con.execute("SET autoinstall_known_extensions = false")
        self._con.execute("SET autoload_known_extensions = false")
        self._con.execute("SET lock_configuration = true")

    @property
    def tables(self) -> set[str]:
        """Names queryable through this engine (``<table>`` and ``<table>_history``)."""
        return set(self._tables)

    def columns(self, table: str) -> list[str]:
        """Column names of a registered table."""
        if table not in self._tables:
            raise QueryError(f"unknown table {table!r}", hint=f"one of: {', '.join(sorted(self._tables))}")
        return [row[0] for row in self._con.execute(f'DESCRIBE "{table}"').fetchall()]

    def sql(self, query: str, *, allowed_tables: set[str] | None = None, allowed_columns: dict[str, set[str]] | None = None, max_rows: int = 10_000) -> QueryResult:
        """Run one read-only query.

        Args:
            query: A single SELECT / WITH / UNION statement.
            allowed_tables: Tables the caller may read (default: every registered table).
            allowed_columns: Optional per-table column allowlist.
            max_rows: Return at most this many rows (``truncated`` says when more matched).

        Raises:
            ForbiddenQueryError: the guard refused the statement.
            QueryError: DuckDB rejected it.
        """
        import duckdb

        allowed = self._tables if allowed_tables is None else set(allowed_tables) & self._tables
        checked = check_read_only(query, allowed, allowed_columns)
        try:
            # Fetch through Arrow: exact types (UTC timestamps without pytz) and bounded reads.
            reader = self._con.sql(checked).to_arrow_reader(min(max_rows + 1, 100_000))
            columns = list(reader.schema.names)
            fetched: list[list[Any]] = []
            for batch in reader:
                fetched.extend(zip(*(col.to_pylist() for col in batch.columns), strict=True))  # type: ignore[arg-type]
                if len(fetched) > max_rows:
                    break
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {exc}", hint="check table and column names with: SELECT * FROM <table> LIMIT 1") from exc
        truncated = len(fetched) > max_rows
        rows = [[_plain(v) for v in row] for row in fetched[:max_rows]]
        read = {t.removesuffix("_history") for t in allowed}
        return QueryResult(columns=columns, rows=rows, sql=checked, row_count=len(rows), truncated=truncated, table_versions={t: v for t, v in self.table_versions.items() if t in read})

    def close(self) -> None:
        """Release the DuckDB connection."""
        self._con.close()
