"""SQL exfiltration as a researcher (research purpose, site-a) against a real ingested lakehouse.

Each adversarial statement runs twice: through ``QueryEngine.sql`` (guard + scoped catalog) and
straight on the scoped DuckDB connection with *no guard at all*, to show the enforcement is the
catalog itself: forbidden columns and rows are not there to be reached. A statement may fail
(refused by the guard, or a DuckDB error); what it must never do is return a forbidden
identifier, an out-of-scope row, or a day-precise date. Leaks are asserted on the returned cells.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pytest
from security_leaks import Forbidden, forbidden_for, leaks

from core.settings import Settings
from lakehouse.query import QueryEngine, QueryError
from lakehouse.sql_guard import ForbiddenQueryError
from policies.engine import PolicyEngine
from policies.packs import load_pack
from policies.scope import DataScope

ID_COLS = "mrn|given_name|family_name|phone|birth_date|address"

ATTACKS: list[str] = [
    f"SELECT COLUMNS('{ID_COLS}') FROM patients",
    "SELECT COLUMNS(*) FROM patients",
    "SELECT COLUMNS(c -> c LIKE '%name%' OR c LIKE '%mrn%') FROM patients",
    "SELECT * FROM patients",
    "SELECT p.* FROM patients p",
    "SELECT * EXCLUDE (patient_id) FROM patients",
    "SELECT p FROM patients p",
    "SELECT to_json(p) FROM patients p",
    "SELECT list(p) FROM patients p",
    "SELECT regexp_extract(CAST(to_json(p) AS VARCHAR), 'M[0-9]{8}') AS m FROM patients p",
    "SELECT mrn FROM patients",
    "SELECT given_name || ' ' || family_name AS n FROM patients",
    "SELECT upper(address), length(phone) FROM patients",
    "SELECT birth_date FROM patients",
    "SELECT string_agg(mrn, ',') FROM patients",
    "SELECT x.* FROM patients, LATERAL (SELECT mrn) AS x",
    "SELECT x.* FROM patients p, LATERAL (SELECT p.*) AS x",
    "SELECT (SELECT max(mrn) FROM patients) AS m",
    "SELECT patient_id, (SELECT given_name) AS g FROM patients",
    "SELECT * FROM reports r, LATERAL (SELECT * FROM patients p WHERE p.patient_id = r.patient_id) AS x",
    "WITH t AS (SELECT * FROM patients) SELECT * FROM t",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT p.* FROM t, patients p",
    "SELECT * FROM patients UNION ALL SELECT * FROM patients",
    "SELECT patient_id FROM patients UNION SELECT patient_id FROM reports UNION SELECT patient_id FROM medications",
    "SELECT * FROM patients NATURAL JOIN reports",
    "SELECT * FROM patients_history",
    "SELECT * FROM reports_history",
    "SELECT * FROM patients p JOIN patients_history h USING (patient_id)",
    "SELECT * FROM duckdb_columns()",
    "SELECT * FROM duckdb_tables()",
    "SELECT * FROM duckdb_views()",
    "SELECT * FROM duckdb_functions() WHERE function_name = 'leak'",
    "SELECT * FROM information_schema.columns",
    "SELECT table_name, column_name FROM information_schema.columns WHERE column_name ILIKE '%mrn%'",
    "SELECT * FROM pragma_table_info('patients')",
    "CREATE MACRO leak() AS TABLE SELECT * FROM patients",
    "CREATE TEMP TABLE stolen AS SELECT * FROM patients",
    "SELECT * FROM query('SELECT * FROM patients')",
    "SELECT * FROM query_table('patients')",
    "PIVOT patients ON sex USING first(patient_id)",
    "UNPIVOT (SELECT COLUMNS(*)::VARCHAR FROM patients) ON COLUMNS(*) INTO NAME k VALUE v",
    "SELECT * FROM patients WHERE consent <> 'research'",
    "SELECT count(*) AS n FROM patients WHERE site <> 'site-a' OR sensitivity > 1",
    "SELECT * FROM observations o WHERE o.patient_id NOT IN (SELECT patient_id FROM patients)",
    "SELECT * FROM report_labels WHERE report_id NOT IN (SELECT report_id FROM reports)",
    "SELECT * FROM reports r WHERE NOT EXISTS (SELECT 1 FROM patients p WHERE p.patient_id = r.patient_id)",
    "SELECT * FROM medications m JOIN conditions c USING (patient_id)",
    "SELECT * FROM encounters",
    "SELECT min(study_date) AS a, max(study_date) AS b FROM reports",
    "SELECT comparison, findings, impression, indication FROM reports",
    "SELECT json_extract(to_json(r), '$') FROM reports r",
    "SELECT * FROM main.patients",
    "SELECT * FROM memory.main.patients",
    "SELECT * FROM read_parquet('lakehouse/patients/*.parquet')",
    "SELECT * FROM 'lakehouse/patients/*.parquet'",
    "SELECT * FROM delta_scan('lakehouse/patients')",
    "SELECT getenv('HOME')",
    "SELECT current_setting('python_enable_replacements')",
    "SELECT * FROM raw",
    "SELECT * FROM patients; SELECT * FROM patients_history",
    "ATTACH ':memory:' AS other",
    "COPY patients TO 'stolen.csv'",
    "DESCRIBE patients",
    "SUMMARIZE patients",
    "SELECT to_json(COLUMNS(*)) FROM patients",
    "SELECT COLUMNS('.*') FROM patients",
    "SELECT regexp_extract_all(CAST(to_json(COLUMNS(*)) AS VARCHAR), '.+') FROM patients",
    "SELECT * FROM patients AS p(a, b, c, d, e, f, g, h, i, j, k)",
    "FROM patients SELECT *",
    "SELECT * FROM (FROM patients)",
    "SELECT unnest(list(p)) FROM patients p",
    "SELECT * FROM patients p POSITIONAL JOIN reports r",
    "SELECT * FROM reports r JOIN encounters e USING (encounter_id) JOIN patients p ON p.patient_id = r.patient_id",
]


@pytest.fixture(scope="module")
def trusted(small_lakehouse: Settings) -> QueryEngine:
    return QueryEngine(small_lakehouse)


@pytest.fixture(scope="module")
def policy() -> PolicyEngine:
    return PolicyEngine(load_pack("default"))


@pytest.fixture(scope="module")
def researcher(trusted: QueryEngine, policy: PolicyEngine) -> QueryEngine:
    return trusted.for_caller(DataScope.from_policy(policy, "researcher", "research", "site-a"))


@pytest.fixture(scope="module")
def forbidden(trusted: QueryEngine, small_lakehouse: Settings) -> Forbidden:
    return forbidden_for(trusted, "site-a", {"research"}, 1, small_lakehouse.site)


def _unguarded(engine: QueryEngine, sql: str) -> tuple[list[str], list[tuple[Any, ...]]] | None:
    # The scoped connection with no SQL guard in front: only the catalog stands between the query and the data.
    con = engine._con
    con.execute("BEGIN TRANSACTION")
    try:
        rel = con.sql(sql)
        if rel is None:
            return None
        return list(rel.columns), rel.fetchall()
    except duckdb.Error:
        return None
    finally:
        con.execute("ROLLBACK")


def test_attack_list_is_large_enough() -> None:
    assert len(ATTACKS) >= 40 and len(set(ATTACKS)) == len(ATTACKS)


@pytest.mark.parametrize("sql", ATTACKS)
def test_no_leak_through_guarded_engine(researcher: QueryEngine, forbidden: Forbidden, sql: str) -> None:
    try:
        result = researcher.sql(sql, max_rows=100_000)
    except (ForbiddenQueryError, QueryError):
        return
    assert leaks(result.rows, result.columns, forbidden) == []
    assert result.fingerprint.startswith("sha256:") and len(result.fingerprint) == 71


@pytest.mark.parametrize("sql", ATTACKS)
def test_no_leak_without_the_guard(researcher: QueryEngine, forbidden: Forbidden, sql: str) -> None:
    got = _unguarded(researcher, sql)
    if got is not None:
        columns, rows = got
        assert leaks(rows, columns, forbidden) == []


def test_the_checker_sees_leaks_on_the_trusted_engine(trusted: QueryEngine, forbidden: Forbidden) -> None:
    # The checker is not vacuous: the same attacks against unscoped data do leak.
    result = trusted.sql(ATTACKS[0], max_rows=100_000)
    assert len(leaks(result.rows, result.columns, forbidden)) > 0
    out_of_scope = trusted.sql("SELECT patient_id, study_date FROM reports", max_rows=100_000)
    assert any("out-of-scope" in x for x in leaks(out_of_scope.rows, out_of_scope.columns, forbidden))


def test_researcher_rows_are_exactly_the_consented_site_rows(researcher: QueryEngine, forbidden: Forbidden) -> None:
    patients = {r[0] for r in researcher.sql("SELECT patient_id FROM patients", max_rows=100_000).rows}
    cases = {r[0] for r in researcher.sql("SELECT report_id FROM reports", max_rows=100_000).rows}
    assert patients == forbidden.allowed_patients and 0 < len(patients)
    assert cases == forbidden.allowed_cases
    assert forbidden.patient_ids, "the fixture must hold out-of-scope patients for this test to mean anything"


def test_researcher_catalog_has_no_identifier_columns(researcher: QueryEngine) -> None:
    assert "patients_history" not in researcher.tables
    cols = set(researcher.columns("patients"))
    assert cols.isdisjoint({"mrn", "given_name", "family_name", "birth_date", "address", "phone", "_content_hash"})
    assert "age_band" in cols and "age" not in cols
    years = {r[0] for r in researcher.sql("SELECT DISTINCT study_date FROM reports").rows}
    assert years and all(isinstance(y, str) and len(y) == 4 and y.isdigit() for y in years)


def test_statements_leave_nothing_behind(researcher: QueryEngine) -> None:
    _unguarded(researcher, "CREATE TABLE keep_me AS SELECT 1 AS x")
    with pytest.raises((ForbiddenQueryError, QueryError)):
        researcher.sql("SELECT * FROM keep_me")
    assert "keep_me" not in {r[0] for r in researcher._con.sql("SELECT table_name FROM duckdb_tables()").fetchall()}


@pytest.mark.parametrize("reader", ["read_parquet('{root}/patients/*.parquet')", "parquet_scan('{root}/patients/*.parquet')", "'{root}/patients/*.parquet'", "glob('{root}/*')"])
def test_the_lakehouse_files_are_out_of_reach(researcher: QueryEngine, small_lakehouse: Settings, forbidden: Forbidden, reader: str) -> None:
    # Even with the real absolute path and no guard, DuckDB's external access is off in a caller's connection.
    sql = "SELECT * FROM " + reader.format(root=small_lakehouse.lakehouse_dir.resolve())
    assert list(small_lakehouse.lakehouse_dir.glob("patients/*.parquet")), "the files exist"
    assert _unguarded(researcher, sql) is None
    with pytest.raises((ForbiddenQueryError, QueryError)):
        researcher.sql(sql)
