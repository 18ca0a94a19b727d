from __future__ import annotations

import datetime as dt

import pytest

from core.settings import Settings
from lakehouse.cohort import CohortPlanError, plan_cohort_query
from lakehouse.query import QueryEngine
from lakehouse.sql_guard import ForbiddenQueryError


@pytest.fixture(scope="module")
def engine(small_lakehouse: Settings) -> QueryEngine:
    return QueryEngine(small_lakehouse)


def _age(birth: str) -> int:
    born, today = dt.date.fromisoformat(birth), dt.date.today()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def test_composite_cohort_matches_an_independent_computation(engine: QueryEngine) -> None:
    plan = plan_cohort_query("patients over 40 with cardiomegaly on furosemide")
    assert plan.template == "patient_cohort"
    assert plan.params == {"min_age": 41, "findings": ["cardiomegaly"], "drugs": ["furosemide"]}
    got = {r["patient_id"] for r in engine.sql(plan.sql).records()}
    # The same question answered from whole tables in Python.
    births = {r["patient_id"]: r["birth_date"] for r in engine.sql("SELECT patient_id, birth_date FROM patients").records()}
    cardio = {r["patient_id"] for r in engine.sql("SELECT r.patient_id FROM reports r JOIN report_labels l ON l.report_id = r.report_id WHERE l.finding = 'cardiomegaly' AND l.state = 'present'").records()}
    furosemide = {r["patient_id"] for r in engine.sql("SELECT patient_id, drug_name FROM medications").records() if r["drug_name"].lower() == "furosemide"}
    expected = {p for p in cardio & furosemide if births.get(p) and _age(births[p]) > 40}
    assert got == expected and expected  # the small lakehouse has such patients


def test_brand_names_counts_and_sites(engine: QueryEngine) -> None:
    brand = plan_cohort_query("How many patients with heart failure are taking Lasix?")
    assert brand.params["drugs"] == ["furosemide"] and brand.params["icd10_prefixes"] == ["I50"]
    count = engine.sql(brand.sql).rows[0][0]
    assert isinstance(count, int) and count > 0
    by_finding = engine.sql(plan_cohort_query("count reports by finding").sql).records()
    assert by_finding and by_finding[0]["reports"] >= by_finding[-1]["reports"]
    nowhere = plan_cohort_query("count reports by finding", sites=["no-such-site"])
    assert engine.sql(nowhere.sql).rows == []


def test_patient_record_templates_quote_values(engine: QueryEngine) -> None:
    pid = engine.sql("SELECT patient_id FROM medications LIMIT 1").rows[0][0]
    meds = plan_cohort_query(f"list the medications of patient {pid}")
    assert meds.template == "patient_medications" and engine.sql(meds.sql).row_count > 0
    sneaky = plan_cohort_query("medications of patient x' OR '1'='1")
    assert sneaky.params["patient_id"] == "x" and engine.sql(sneaky.sql).row_count == 0


def test_llm_sql_is_guarded(engine: QueryEngine) -> None:
    with pytest.raises(CohortPlanError, match="no query template"):
        plan_cohort_query("what is the average creatinine")
    ok = plan_cohort_query("average creatinine", write_sql=lambda q: "SELECT avg(value) AS mean FROM observations WHERE loinc_code = '2160-0';")
    assert ok.template == "llm" and engine.sql(ok.sql).rows[0][0] > 0
    for bad in ("DELETE FROM patients", "SELECT * FROM read_csv('/etc/passwd')", "SELECT 1; DROP TABLE patients"):
        with pytest.raises(ForbiddenQueryError):
            plan_cohort_query("something unusual", write_sql=lambda q, bad=bad: bad)
    with pytest.raises(ForbiddenQueryError, match="phone"):
        plan_cohort_query("phones", write_sql=lambda q: "SELECT phone FROM patients", allowed_tables={"patients"}, allowed_columns={"patients": {"patient_id", "sex"}})
    assert engine.sql("SELECT count(*) FROM patients").rows[0][0] > 0  # nothing was written or dropped
