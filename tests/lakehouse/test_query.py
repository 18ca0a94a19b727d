from __future__ import annotations

import pytest

from core.settings import Settings
from lakehouse.query import QueryEngine
from lakehouse.sql_guard import ForbiddenQueryError


@pytest.fixture(scope="module")
def engine(small_lakehouse: Settings) -> QueryEngine:
    return QueryEngine(small_lakehouse)


def test_join_patients_reports_labels(engine: QueryEngine) -> None:
    result = engine.sql(
        """SELECT p.sex, count(DISTINCT r.report_id) AS cases
           FROM patients p JOIN reports r ON r.patient_id = p.patient_id
           JOIN report_labels l ON l.report_id = r.report_id
           WHERE l.finding = 'cardiomegaly' AND l.state = 'present'
           GROUP BY p.sex ORDER BY p.sex"""
    )
    assert result.columns == ["sex", "cases"]
    assert sum(row[1] for row in result.rows) > 0
    total = engine.sql("SELECT count(*) FROM reports").rows[0][0]
    assert 250 <= total <= 300
    assert result.table_versions["reports"] is not None


def test_split_and_history_views(engine: QueryEngine) -> None:
    rows = dict(engine.sql("SELECT split, count(*) FROM reports GROUP BY split").rows)
    assert set(rows) == {"train", "test"} and rows["train"] > rows["test"]
    bad = engine.sql("SELECT count(*) FROM reports WHERE (split = 'test') <> (CAST(substr(report_id, 4) AS INT) % 5 = 0)")
    assert bad.rows == [[0]]
    hist = engine.sql("SELECT count(*) FROM reports_history").rows[0][0]
    assert hist >= engine.sql("SELECT count(*) FROM reports").rows[0][0]


def test_truncation_and_refusals(engine: QueryEngine) -> None:
    result = engine.sql("SELECT report_id FROM reports", max_rows=3)
    assert result.row_count == 3 and result.truncated
    for sql in ["DELETE FROM reports", "SELECT * FROM read_csv('/etc/passwd')", "SELECT 1; DROP TABLE reports"]:
        with pytest.raises(ForbiddenQueryError):
            engine.sql(sql)
    with pytest.raises(ForbiddenQueryError, match="patients"):
        engine.sql("SELECT * FROM patients", allowed_tables={"reports"})
