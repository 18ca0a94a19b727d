"""Data scopes on a real lakehouse: fail-closed construction, derived ages, coarsened dates, cohorts, fingerprints."""

from __future__ import annotations

import re

import pytest

from core.settings import Settings
from lakehouse.cohort import plan_cohort_query
from lakehouse.query import QueryEngine, QueryError, sql_fingerprint
from lakehouse.scoped import age_bands
from lakehouse.synth.generate import SYNTHETIC_SITES, site_for
from policies.engine import PolicyEngine
from policies.packs import load_pack
from policies.scope import DataScope, ScopeDeniedError


@pytest.fixture(scope="module")
def policy() -> PolicyEngine:
    return PolicyEngine(load_pack("default"))


@pytest.fixture(scope="module")
def trusted(small_lakehouse: Settings) -> QueryEngine:
    return QueryEngine(small_lakehouse)


@pytest.fixture(scope="module")
def clinician(trusted: QueryEngine, policy: PolicyEngine) -> QueryEngine:
    return trusted.for_caller(DataScope.from_policy(policy, "clinician", "treatment", "site-a"))


@pytest.fixture(scope="module")
def researcher(trusted: QueryEngine, policy: PolicyEngine) -> QueryEngine:
    return trusted.for_caller(DataScope.from_policy(policy, "researcher", "research", "site-a"))


@pytest.mark.parametrize(("role", "purpose", "site"), [
    ("", "research", "site-a"), ("researcher", "", "site-a"), ("researcher", "research", ""),
    ("nobody", "research", "site-a"), ("researcher", "treatment", "site-a"), ("clinician", "research", "site-a"),
    ("researcher", "research", "site-z"), ("auditor", "treatment", "site-a"), ("clinician", "treatment", " "),
])
def test_scope_fails_closed(policy: PolicyEngine, role: str, purpose: str, site: str) -> None:
    with pytest.raises(ScopeDeniedError):
        DataScope.from_policy(policy, role, purpose, site)


def test_scope_records_its_decision_and_search_fields(policy: PolicyEngine) -> None:
    scope = DataScope.from_policy(policy, "researcher", "research", "site-b", user="r1")
    assert scope.decision is not None and scope.decision.effect == "allow" and scope.decision.caller.user == "r1"
    assert scope.search_fields() == {"sites": ["site-b"], "consents": ["research"], "max_sensitivity": 1}
    assert scope.key() != DataScope.from_policy(policy, "researcher", "research", "site-a").key()


def test_scoped_engine_cannot_rescope(researcher: QueryEngine, policy: PolicyEngine) -> None:
    with pytest.raises(QueryError):
        researcher.for_caller(DataScope.from_policy(policy, "clinician", "treatment", "site-a"))


def test_age_is_the_age_the_report_states(clinician: QueryEngine) -> None:
    # The generator writes the patient's age at the study into "NN-year-old"; each patient has one study.
    rows = clinician.sql(r"SELECT p.age, r.indication FROM patients p JOIN reports r USING (patient_id) WHERE regexp_matches(r.indication, '\d+[- ]year[- ]old')", max_rows=10_000).rows
    assert len(rows) >= 10
    for age, indication in rows:
        stated = int(re.search(r"(\d+)[- ]year[- ]old", indication).group(1))  # type: ignore[union-attr]
        assert age == stated, (age, indication)


def test_age_band_matches_exact_age(trusted: QueryEngine, policy: PolicyEngine, researcher: QueryEngine) -> None:
    exact = dict(trusted.for_caller(DataScope.from_policy(policy, "data_engineer", "operations", "site-a")).sql("SELECT patient_id, age FROM patients", max_rows=10_000).rows)
    bands = dict(researcher.sql("SELECT patient_id, age_band FROM patients", max_rows=10_000).rows)
    assert bands
    for pid, band in bands.items():
        label = next(b for b, lo, hi in age_bands() if lo <= exact[pid] <= hi)
        assert band == label
    assert any(b == "90+" for b in bands.values()) or max(exact.values()) < 90


def test_dates_are_coarsened_for_researchers(researcher: QueryEngine, clinician: QueryEngine) -> None:
    cells = researcher.sql("SELECT e.start, e.\"end\", m.authored_on, c.onset, o.effective_at FROM encounters e JOIN medications m USING (patient_id) JOIN conditions c USING (patient_id) JOIN observations o USING (patient_id) LIMIT 200").rows
    assert cells and all(v is None or re.fullmatch(r"\d{4}", v) for row in cells for v in row)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", clinician.sql("SELECT study_date FROM reports LIMIT 1").rows[0][0])


def test_free_text_is_scrubbed_for_researchers(researcher: QueryEngine, clinician: QueryEngine) -> None:
    raw = " ".join(r[0] for r in clinician.sql("SELECT comparison FROM reports", max_rows=10_000).rows)
    scrubbed = " ".join(r[0] for r in researcher.sql("SELECT comparison FROM reports", max_rows=10_000).rows)
    assert re.search(r"\b(19|20)\d\d\b", raw), "the fixture's comparisons should hold dates"
    assert not re.search(r"\b(?:19|20)\d\d\b", scrubbed) and "[DATE]" in scrubbed


def test_over_65_cardiomegaly_furosemide_for_clinician_and_researcher(clinician: QueryEngine, researcher: QueryEngine, trusted: QueryEngine) -> None:
    question = "patients over 65 with cardiomegaly on furosemide"
    cardio = {r[0] for r in trusted.sql("SELECT r.patient_id FROM reports r JOIN report_labels l USING (report_id) WHERE l.finding = 'cardiomegaly' AND l.state = 'present'", max_rows=10_000).rows}
    furo = {r[0] for r in trusted.sql("SELECT patient_id FROM medications WHERE lower(drug_name) = 'furosemide'", max_rows=10_000).rows}

    plan = plan_cohort_query(question, scope=clinician.scope)
    got = clinician.sql(plan.sql, max_rows=10_000).records()
    ages = dict(clinician.sql("SELECT patient_id, age FROM patients", max_rows=10_000).rows)
    assert {r["patient_id"] for r in got} == {p for p in cardio & furo & set(ages) if ages[p] > 65}
    assert got and all(r["age"] > 65 for r in got)

    rplan = plan_cohort_query(question, scope=researcher.scope)
    assert rplan.params["age_bands"][0] == "70-74" and "band" in rplan.explanation
    rgot = researcher.sql(rplan.sql, max_rows=10_000).records()
    bands = dict(researcher.sql("SELECT patient_id, age_band FROM patients", max_rows=10_000).rows)
    expected = {p for p in cardio & furo & set(bands) if bands[p] in rplan.params["age_bands"]}
    assert {r["patient_id"] for r in rgot} == expected and set(rgot[0]) == {"patient_id", "sex", "age_band"} if rgot else expected == set()


def test_fingerprint_is_stable_under_formatting(researcher: QueryEngine) -> None:
    a = researcher.sql("select sex, count(*) from patients group by sex")
    b = researcher.sql("SELECT   sex,\n COUNT(*)  FROM patients GROUP BY sex;")
    assert a.fingerprint == b.fingerprint == sql_fingerprint("SELECT sex, count(*) FROM patients GROUP BY sex")
    assert a.fingerprint != researcher.sql("SELECT sex FROM patients").fingerprint
    assert a.scope == researcher.scope.key()  # type: ignore[union-attr]


def test_synthetic_patients_are_spread_over_two_sites(trusted: QueryEngine) -> None:
    assert site_for("CXR10", SYNTHETIC_SITES) == site_for("CXR10", list(SYNTHETIC_SITES))
    counts = dict(trusted.sql("SELECT site, count(*) FROM patients GROUP BY site").rows)
    assert set(counts) == set(SYNTHETIC_SITES) and min(counts.values()) > 0.3 * sum(counts.values())
    mismatched = trusted.sql("SELECT count(*) FROM reports r JOIN patients p USING (patient_id) WHERE r.site <> p.site").rows[0][0]
    assert mismatched == 0


def test_describe_lists_what_the_caller_sees(researcher: QueryEngine, trusted: QueryEngine) -> None:
    summary = researcher.describe()
    assert summary.scope == researcher.scope and "patients_history" not in summary.tables
    assert "mrn" not in summary.tables["patients"] and "age_band" in summary.tables["patients"]
    assert 0 < summary.row_counts["patients"] < trusted.sql("SELECT count(*) FROM patients").rows[0][0]


@pytest.mark.parametrize(("table", "key"), [("patients", "patient_id"), ("reports", "report_id"), ("report_labels", "label_id"), ("medications", "medication_id"), ("encounters", "encounter_id")])
def test_history_views_follow_the_same_rows(clinician: QueryEngine, trusted: QueryEngine, table: str, key: str) -> None:
    current = {r[0] for r in clinician.sql(f"SELECT {key} FROM {table}", max_rows=100_000).rows}
    history = {r[0] for r in clinician.sql(f"SELECT {key} FROM {table}_history", max_rows=100_000).rows}
    assert history == current and current
    assert len(current) < trusted.sql(f"SELECT count(DISTINCT {key}) FROM {table}_history").rows[0][0]
