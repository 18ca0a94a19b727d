from __future__ import annotations

import pytest

from lakehouse.sql_guard import ForbiddenQueryError, check_read_only

TABLES = {"reports", "patients", "report_labels"}


@pytest.mark.parametrize("sql", [
    "SELECT r.report_id, p.sex FROM reports r JOIN patients p ON p.patient_id = r.patient_id",
    "WITH pos AS (SELECT report_id FROM report_labels WHERE state = 'present') SELECT count(*) FROM pos",
    "SELECT report_id FROM reports UNION SELECT report_id FROM report_labels",
    "SELECT split, count(*) AS n FROM reports GROUP BY split ORDER BY n DESC",
])
def test_read_only_queries_pass(sql: str) -> None:
    assert check_read_only(sql, TABLES).upper().startswith(("SELECT", "WITH"))


@pytest.mark.parametrize(("sql", "named"), [
    ("DROP TABLE reports", "DROP"),
    ("DELETE FROM reports", "DELETE"),
    ("INSERT INTO reports VALUES (1)", "INSERT"),
    ("UPDATE reports SET findings = ''", "UPDATE"),
    ("CREATE TABLE x AS SELECT 1", "CREATE"),
    ("ATTACH 'other.db'", "ATTACH"),
    ("COPY reports TO 'out.csv'", "COPY"),
    ("PRAGMA show_tables", "PRAGMA"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "COMMAND"),
    ("SET threads = 1", "SET"),
    ("SELECT 1; SELECT 2", "exactly one"),
    ("SELECT * INTO t FROM reports", "INTO"),
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
    ("SELECT * FROM read_parquet('x.parquet')", "read_parquet"),
    ("SELECT * FROM '/etc/passwd.csv'", "file paths"),
    ("SELECT read_text('/etc/passwd')", "read_text"),
    ("SELECT * FROM generate_series(1, 3)", "table function"),
    ("SELECT * FROM audit_log", "audit_log"),
    ("SELECT * FROM other.main.reports", "qualified"),
    ("SELECT (1", "parse"),
])
def test_forbidden_statements_are_refused_by_name(sql: str, named: str) -> None:
    with pytest.raises(ForbiddenQueryError) as err:
        check_read_only(sql, TABLES)
    assert named.lower() in err.value.message.lower()


def test_column_allowlist() -> None:
    cols = {"patients": {"patient_id", "sex", "site"}}
    assert check_read_only("SELECT p.sex, count(*) FROM patients p GROUP BY p.sex", TABLES, cols)
    for sql, named in [
        ("SELECT mrn FROM patients", "mrn"),
        ("SELECT p.given_name FROM patients p", "patients.given_name"),
        ("SELECT * FROM patients", "SELECT *"),
        ("SELECT x FROM (SELECT phone AS x FROM patients)", "phone"),
    ]:
        with pytest.raises(ForbiddenQueryError, match=named.replace("*", r"\*")):
            check_read_only(sql, TABLES, cols)
    # Tables without a column list stay unrestricted.
    assert check_read_only("SELECT * FROM reports", TABLES, cols)
