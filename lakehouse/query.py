"""SQL over the raw tier: DuckDB in memory, reading the Delta tables through Arrow.

Each raw table is registered twice: ``<table>`` (the current version of every key) and
``<table>_history`` (every version, with provenance columns). Tables are read with the
``deltalake`` package and handed to DuckDB as Arrow, because DuckDB's own ``delta_scan``
downloads an extension at run time. After registration DuckDB's external access is switched
off and its configuration locked, and every statement first passes
:func:`lakehouse.sql_guard.check_read_only`; answers carry the Delta version of every table
they could read, for provenance, and the SQL fingerprint for the audit entry.

A caller's queries run on a *scoped* engine (:meth:`QueryEngine.for_caller`): its own DuckDB
connection whose catalog holds only the rows and columns of the caller's
:class:`policies.scope.DataScope`, built by :mod:`lakehouse.scoped` before registration. That
is the enforcement; the guard is a second lock, and each statement runs inside a transaction
that is rolled back, a third. The unscoped engine is for trusted code (ingestion checks,
evaluation) and must never receive a caller's SQL.

Usage::

    engine = QueryEngine(settings)                       # trusted, everything
    scoped = engine.for_caller(DataScope.from_policy(policy, "researcher", "research", "site-a"))
    scoped.sql("SELECT age_band, count(*) FROM patients GROUP BY age_band").fingerprint
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import logging
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.errors import SageError
from core.settings import Settings
from lakehouse.raw.schema import TABLES
from lakehouse.raw.store import RawStore
from lakehouse.sql_guard import check_read_only
from policies.scope import DataScope

if TYPE_CHECKING:
    import pyarrow as pa

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
    fingerprint: str = Field("", description="sha256 of the normalised SQL: what the audit entry records instead of the text.")
    scope: str | None = Field(None, description="Key of the data scope the query ran in (None: trusted, unscoped engine).")

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


class CatalogSummary(BaseModel):
    """What one engine's catalog holds: the answer to "what can this caller see?" (``scope show``)."""

    scope: DataScope | None = Field(description="The scope (None: the trusted engine, everything).")
    tables: dict[str, list[str]] = Field(description="Relation -> its columns, as the caller sees them.")
    row_counts: dict[str, int] = Field(description="Relation -> rows visible.")


def sql_fingerprint(sql: str) -> str:
    """``sha256:<hex>`` of a statement normalised by sqlglot (DuckDB dialect) and whitespace-collapsed.

    The same query written with other spacing, case of keywords or a trailing semicolon gets the
    same fingerprint; an unparsable text is fingerprinted as given (whitespace-collapsed).
    """
    import sqlglot

    try:
        parsed = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
        text = ";".join(s.sql(dialect="duckdb") for s in parsed)
    except sqlglot.errors.SqlglotError:
        text = sql
    return "sha256:" + hashlib.sha256(re.sub(r"\s+", " ", text).strip().encode("utf-8")).hexdigest()


def _raw_tables(store: RawStore) -> dict[str, pa.Table]:
    out: dict[str, pa.Table] = {}
    for table in TABLES:
        out[table] = store.scan(table)
        out[f"{table}_history"] = store.scan(table, history=True)
    return out


class QueryEngine:
    """Read-only DuckDB views over one lakehouse, built once from the current Delta snapshots.

    ``QueryEngine(settings)`` sees everything (trusted code); ``QueryEngine(settings, scope=...)``
    or :meth:`for_caller` sees only one caller's scope.
    """

    def __init__(self, settings: Settings, scope: DataScope | None = None, *, _raw: Mapping[str, pa.Table] | None = None, _versions: dict[str, int | None] | None = None) -> None:
        import duckdb

        self.settings = settings
        self.store = RawStore(settings)
        self.table_versions = dict(_versions) if _versions is not None else self.store.table_versions()
        self.scope = scope
        raw = dict(_raw) if _raw is not None else _raw_tables(self.store)
        if scope is None:
            # Only the trusted engine keeps the raw Arrow tables (to derive scoped engines from one snapshot).
            self._raw: dict[str, pa.Table] | None = raw
            tables = raw
        else:
            from lakehouse.scoped import build_scoped_tables

            self._raw = None
            tables = build_scoped_tables(raw, scope, settings.site)
        self._con = duckdb.connect(":memory:")
        self._lock = threading.Lock()  # one statement (one transaction) at a time on this connection
        self._tables: set[str] = set()
        for name, data in tables.items():
            self._con.register(name, data)
            self._tables.add(name)
        del raw, tables
        # Locks behind the scope: no file, network or extension access, no Python-variable scans, no settings changes.
        self._con.execute("SET enable_external_access = false")
        self._con.execute("SET python_enable_replacements = false")
        self._con.execute("SET autoinstall_known_extensions = false")
        self._con.execute("SET autoload_known_extensions = false")
        self._con.execute("SET lock_configuration = true")

    def for_caller(self, scope: DataScope) -> QueryEngine:
        """A new engine over this engine's snapshot holding only ``scope``'s rows and columns.

        Raises:
            QueryError: this engine is itself scoped (a scope cannot be widened or re-derived).
        """
        if self._raw is None:
            raise QueryError("a scoped engine cannot derive another scope", hint="call for_caller on the trusted QueryEngine(settings)")
        return QueryEngine(self.settings, scope, _raw=self._raw, _versions=self.table_versions)

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
        if self.scope is not None and allowed_tables is None:
            allowed_tables = self._tables
        allowed = self._tables if allowed_tables is None else set(allowed_tables) & self._tables
        checked = check_read_only(query, allowed, allowed_columns)
        # Each statement runs in a transaction that is rolled back: nothing it might create survives it.
        with self._lock:
            columns, fetched = self._run(checked, max_rows)
        truncated = len(fetched) > max_rows
        rows = [[_plain(v) for v in row] for row in fetched[:max_rows]]
        read = {t.removesuffix("_history") for t in allowed}
        return QueryResult(
            columns=columns, rows=rows, sql=checked, row_count=len(rows), truncated=truncated,
            table_versions={t: v for t, v in self.table_versions.items() if t in read},
            fingerprint=sql_fingerprint(checked), scope=None if self.scope is None else self.scope.key(),
        )

    def describe(self) -> CatalogSummary:
        """Relations, columns and visible row counts of this engine's catalog."""
        counts = {t: int(self.sql(f'SELECT count(*) FROM "{t}"').rows[0][0]) for t in sorted(self._tables)}
        return CatalogSummary(scope=self.scope, tables={t: self.columns(t) for t in sorted(self._tables)}, row_counts=counts)

    def _run(self, checked: str, max_rows: int) -> tuple[list[str], list[list[Any]]]:
        import duckdb

        self._con.execute("BEGIN TRANSACTION")
        try:
            # Fetch through Arrow: exact types (UTC timestamps without pytz) and bounded reads.
            reader = self._con.sql(checked).to_arrow_reader(min(max_rows + 1, 100_000))
            columns = list(reader.schema.names)
            fetched: list[list[Any]] = []
            for batch in reader:
                fetched.extend(zip(*(col.to_pylist() for col in batch.columns), strict=True))  # type: ignore[arg-type]
                if len(fetched) > max_rows:
                    break
            del reader
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {exc}", hint="check table and column names with: SELECT * FROM <table> LIMIT 1") from exc
        finally:
            self._con.execute("ROLLBACK")
        return columns, fetched

    def close(self) -> None:
        """Release the DuckDB connection."""
        self._con.close()


def scoped_engine(settings: Settings, scope: DataScope) -> QueryEngine:
    """A caller's engine read straight from the lakehouse (use ``for_caller`` to reuse a snapshot)."""
    return QueryEngine(settings, scope)
