"""Build one caller's lakehouse: only the relations, columns and rows a :class:`DataScope` allows.

The query engine hands a caller a DuckDB connection whose catalog holds *only* the tables built
here. Rows and columns are filtered in a private build connection, over Arrow, before anything
is registered in the caller's connection, so no query form (``COLUMNS('regex')``, ``SELECT *``,
``LATERAL``, row-as-struct, catalog functions, macros...) can reach what a scope leaves out.

Row rules (the same ones vector search applies as payload filters, see :mod:`lakehouse.access`):
a row belongs to a patient, and the patient's tags decide: site in the scope's sites, consent
in the scope's consents (when the role has consent rules), sensitivity at most the scope's
maximum. Missing tags fail closed exactly as ingestion's ``access_tags`` does for the Qdrant
payload: no consent = ``treatment-only``, no sensitivity = 1, no site = the row's own site or
the deployment's site. History views (``<table>_history``) follow the *current* tags of the
patient, so a withdrawn consent hides every old version too.

Column rules: denied columns are left out; ``age`` (completed years) or ``age_band`` (5-year
bands, ``90+`` over 89) is derived from ``birth_date`` at the patient's most recent study or
encounter (the age the reports themselves state), before ``birth_date`` is dropped; dates and
timestamps become ``'YYYY-MM'`` or ``'YYYY'`` strings when the scope coarsens them; free text is
pattern-scrubbed when the scope says so; ``_content_hash`` (a hash over hidden columns) is
dropped from tables that lose columns or text.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from lakehouse.raw.schema import TABLES
from policies.scope import DataScope

FREE_TEXT: dict[str, tuple[str, ...]] = {"reports": ("indication", "comparison", "findings", "impression"), "encounters": ("reason",)}
_DATE_FORMAT = {"month": "%Y-%m", "year": "%Y"}
BAND_WIDTH = 5
TOP_AGE = 90  # HIPAA Safe Harbor: ages over 89 are one category


def age_bands() -> list[tuple[str, int, int]]:
    """Every band as (label, lowest age, highest age); the top band is ``90+`` (upper bound 200)."""
    bands = [(f"{lo}-{lo + BAND_WIDTH - 1}", lo, lo + BAND_WIDTH - 1) for lo in range(0, TOP_AGE, BAND_WIDTH)]
    return [*bands, (f"{TOP_AGE}+", TOP_AGE, 200)]


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(_quote(v) for v in values) + ")" if values else "(NULL)"


def _row_rule(scope: DataScope, site: str, consent: str, sensitivity: str) -> str:
    rules = [f"({site}) IN {_in(scope.sites)}", f"({sensitivity}) <= {int(scope.max_sensitivity)}"]
    if scope.consents is not None:
        rules.append(f"({consent}) IN {_in(scope.consents)}")
    return " AND ".join(rules)


def _tags(table: str, columns: set[str], default_site: str) -> tuple[str, str, str, str]:
    """(join clause, site, consent, sensitivity) expressions giving each row of ``table`` its patient's tags."""
    d = _quote(default_site)
    if table == "patients":
        return "", f"coalesce(p.site, {d})", "coalesce(p.consent, 'treatment-only')", "coalesce(p.sensitivity, 1)"
    if table == "report_labels":
        join = "LEFT JOIN __report_tags rt ON rt.report_id = t.report_id"
        return join, f"coalesce(rt.site, {d})", "coalesce(rt.consent, 'treatment-only')", "coalesce(rt.sensitivity, 1)"
    join = "LEFT JOIN patients p ON p.patient_id = t.patient_id"
    own_site = "t.site, " if "site" in columns else ""
    if table == "images":
        join += " LEFT JOIN __report_tags rt ON rt.report_id = t.report_id"
        return join, f"coalesce(p.site, rt.site, {d})", "coalesce(p.consent, rt.consent, 'treatment-only')", "coalesce(p.sensitivity, rt.sensitivity, 1)"
    return join, f"coalesce(p.site, {own_site}{d})", "coalesce(p.consent, 'treatment-only')", "coalesce(p.sensitivity, 1)"


def _projection(table: str, schema: pa.Schema, scope: DataScope, alias: str) -> list[str]:
    hidden = scope.hidden_columns(table)
    lossy = bool(hidden & set(schema.names)) or (scope.free_text == "scrub" and table in FREE_TEXT)
    out = []
    for field in schema:
        name = field.name
        if name in hidden or (name == "_content_hash" and lossy):
            continue
        col = f'{alias}."{name}"'
        if scope.date_precision != "day" and (pa.types.is_date(field.type) or pa.types.is_timestamp(field.type)):
            out.append(f"strftime({col}, '{_DATE_FORMAT[scope.date_precision]}') AS \"{name}\"")
        else:
            out.append(f'{col} AS "{name}"')
    return out


_AGE_SQL = """
CREATE TEMP TABLE __age AS
WITH seen AS (
    SELECT patient_id, study_date AS day FROM reports WHERE patient_id IS NOT NULL AND study_date IS NOT NULL
    UNION ALL SELECT patient_id, CAST("start" AS DATE) FROM encounters WHERE patient_id IS NOT NULL AND "start" IS NOT NULL
), ref AS (SELECT patient_id, max(day) AS day FROM seen GROUP BY patient_id)
SELECT p.patient_id,
       date_diff('year', p.birth_date, coalesce(ref.day, current_date))
         - CASE WHEN strftime(coalesce(ref.day, current_date), '%m-%d') < strftime(p.birth_date, '%m-%d') THEN 1 ELSE 0 END AS age
FROM patients p LEFT JOIN ref ON ref.patient_id = p.patient_id
WHERE p.birth_date IS NOT NULL
"""


def _band_sql(age: str) -> str:
    return f"CASE WHEN {age} IS NULL THEN NULL WHEN {age} >= {TOP_AGE} THEN '{TOP_AGE}+' ELSE CAST({age} // {BAND_WIDTH} * {BAND_WIDTH} AS VARCHAR) || '-' || CAST({age} // {BAND_WIDTH} * {BAND_WIDTH} + {BAND_WIDTH - 1} AS VARCHAR) END"


def _scrub(table: pa.Table, name: str) -> pa.Table:
    from policies.scrub import scrub_text

    for col in FREE_TEXT.get(name.removesuffix("_history"), ()):
        if col in table.column_names:
            idx = table.column_names.index(col)
            table = table.set_column(idx, col, pa.array([scrub_text(v) for v in table.column(col).to_pylist()], type=pa.string()))
    return table


def build_scoped_tables(raw: Mapping[str, pa.Table], scope: DataScope, default_site: str) -> dict[str, pa.Table]:
    """The tables of one scope, filtered and projected, ready to register for the caller.

    Args:
        raw: Every raw table by name (``<table>`` current, ``<table>_history`` all versions).
        scope: The caller's data scope.
        default_site: The deployment's site (rows without any site tag belong to it, as in the payload).
    """
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        for name, data in raw.items():
            con.register(name, data)
        report_join, r_site, r_consent, r_sens = _tags("reports", set(raw["reports"].schema.names), default_site)
        con.execute(f"CREATE TEMP TABLE __report_tags AS SELECT t.report_id, {r_site} AS site, {r_consent} AS consent, {r_sens} AS sensitivity FROM reports t {report_join}")
        con.execute(_AGE_SQL)
        wanted = [t for t in TABLES if scope.tables is None or t in scope.tables]
        out: dict[str, pa.Table] = {}
        for table in wanted:
            for name in (table, f"{table}_history") if scope.history else (table,):
                data = raw[name]
                alias = "p" if table == "patients" else "t"
                join, site, consent, sens = _tags(table, set(data.schema.names), default_site)
                if table == "patients":
                    # patients: tags of the row itself, but always the *current* row's (history follows it).
                    join = "LEFT JOIN patients p ON p.patient_id = t.patient_id" if name != table else ""
                    alias = "t" if name != table else "p"
                columns = _projection(table, data.schema, scope, alias)
                if table == "patients" and scope.age_detail != "none":
                    join += f" LEFT JOIN __age ON __age.patient_id = {alias}.patient_id"
                    columns.append("__age.age AS age" if scope.age_detail == "exact" else f"{_band_sql('__age.age')} AS age_band")
                sql = f"SELECT {', '.join(columns)} FROM {name} {alias} {join} WHERE {_row_rule(scope, site, consent, sens)}"
                result = con.sql(sql).to_arrow_table()
                out[name] = _scrub(result, name) if scope.free_text == "scrub" else result
        return out
    finally:
        con.close()
