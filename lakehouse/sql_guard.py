"""Read-only SQL guard: one SELECT over allowed tables and columns, or a refusal that says why.

Every SQL statement that reaches DuckDB (the ``query`` command, the cohort-query tool, the
agents) passes :func:`check_read_only` first. It parses the statement with sqlglot (DuckDB
dialect) and refuses, naming the offending part: more than one statement, anything but
SELECT / WITH / UNION / INTERSECT / EXCEPT, ``SELECT ... INTO``, table functions and file
readers (``read_csv``, ``read_parquet``, ``'file.csv'`` replacement scans, ``glob``...), tables
outside the allowlist, and columns outside the per-table column allowlist. The query engine
also disables DuckDB's external access, so the guard is one of two locks, not the only one.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.optimizer.scope import traverse_scope

from core.errors import SageError

_ALLOWED_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)
_DENIED_NODES = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter, exp.Command, exp.Into, exp.Copy, exp.Pragma, exp.Set, exp.Use, exp.Merge, exp.Attach, exp.Detach, exp.Install, exp.Describe, exp.Summarize)
# Scalar functions that read files, the environment or run nested SQL.
_DENIED_FUNCTIONS = {"glob", "getenv", "query", "query_table", "sniff_csv", "load_extension", "current_setting", "duckdb_secrets", "duckdb_settings", "duckdb_extensions"}
_DENIED_PREFIXES = ("read_", "parquet_", "delta_", "iceberg_", "csv_", "json_read")


class ForbiddenQueryError(SageError):
    """The statement is not a read-only query over the tables and columns the caller may read."""

    def __init__(self, message: str) -> None:
        super().__init__(message, hint="write one SELECT over the allowed tables and columns (see `sagehealth query --help`)")


def _function_name(func: exp.Func) -> str:
    return (func.name if isinstance(func, exp.Anonymous) else func.sql_name()).lower()


def _check_functions(tree: exp.Expression) -> None:
    for func in tree.find_all(exp.Func):
        name = _function_name(func)
        if name in _DENIED_FUNCTIONS or name.startswith(_DENIED_PREFIXES):
            raise ForbiddenQueryError(f"function {name}() is not allowed: it reads files, settings or runs nested SQL")


def _check_tables(tree: exp.Expression, allowed_tables: set[str] | None) -> None:
    cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise ForbiddenQueryError(f"table function {table.this.sql(dialect='duckdb')} is not allowed; query the lakehouse tables")
        name = table.name
        if table.catalog or (table.db and table.db.lower() != "main"):
            raise ForbiddenQueryError(f"table {table.sql(dialect='duckdb')} is not allowed: qualified names reach outside the lakehouse")
        if name.lower() in cte_names and not table.db:
            continue
        if table.this.quoted and any(ch in name for ch in "./\\:"):
            raise ForbiddenQueryError(f"table {name!r} is not allowed: file paths cannot be queried")
        if allowed_tables is not None and name not in allowed_tables:
            raise ForbiddenQueryError(f"table {name!r} is not allowed for this caller; allowed: {', '.join(sorted(allowed_tables)) or 'none'}")


def _check_columns(tree: exp.Expression, allowed_columns: dict[str, set[str]]) -> None:
    for scope in traverse_scope(tree):
        bases = {alias: src.name for alias, src in scope.sources.items() if isinstance(src, exp.Table)}
        restricted = {t for t in bases.values() if t in allowed_columns}
        if not restricted:
            continue
        select = scope.expression
        if isinstance(select, exp.Select) and any(isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star)) for e in select.expressions):
            raise ForbiddenQueryError(f"SELECT * over {', '.join(sorted(restricted))} is not allowed: name the columns you may read")
        aliases = {e.alias for e in select.expressions if isinstance(e, exp.Alias)} if isinstance(select, exp.Select) else set()
        for column in scope.columns:
            name = column.name
            if column.table:
                table = bases.get(column.table)
                if table is not None and table in allowed_columns and name not in allowed_columns[table]:
                    raise ForbiddenQueryError(f"column {table}.{name} is not allowed for this caller")
            elif name not in aliases:
                candidates = list(bases.values())
                if candidates and len(candidates) == len(scope.sources) and not any(t not in allowed_columns or name in allowed_columns[t] for t in candidates):
                    raise ForbiddenQueryError(f"column {name} is not allowed for this caller (tables: {', '.join(sorted(set(candidates)))})")


def check_read_only(sql: str, allowed_tables: set[str] | None = None, allowed_columns: dict[str, set[str]] | None = None) -> str:
    """Validate one read-only statement and return it normalised (DuckDB dialect).

    Args:
        sql: The statement to check.
        allowed_tables: Table (view) names the caller may read; None: any table (never files).
        allowed_columns: Per table, the columns the caller may read; tables not named are unrestricted.

    Raises:
        ForbiddenQueryError: naming the statement kind, table, function or column refused.
    """
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except ParseError as exc:
        raise ForbiddenQueryError(f"SQL does not parse: {str(exc).splitlines()[0]}") from exc
    if len(statements) != 1:
        raise ForbiddenQueryError(f"exactly one statement is allowed, got {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, _ALLOWED_ROOTS):
        raise ForbiddenQueryError(f"{tree.key.upper()} statements are not allowed: only SELECT / WITH / UNION queries")
    for node in tree.walk():
        if isinstance(node, _DENIED_NODES):
            raise ForbiddenQueryError(f"{node.key.upper()} is not allowed inside a read-only query")
    _check_functions(tree)
    _check_tables(tree, allowed_tables)
    if allowed_columns:
        _check_columns(tree, allowed_columns)
    return tree.sql(dialect="duckdb")
