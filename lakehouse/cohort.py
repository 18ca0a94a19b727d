"""Cohort and record questions in plain English -> one read-only SQL statement over the raw tier.

Common questions are answered by templates, so the SQL is predictable and cheap: a question is
parsed with regexes, the finding vocabulary (the labeler's mention phrases), a small condition
vocabulary (ICD-10 prefixes) and drug-name normalisation (brand -> generic, via
``drug-named-entity-recognition``). Anything else goes to a caller-supplied ``write_sql``
function (the cohort task passes one that asks the chat model). Either way the statement passes
:func:`lakehouse.sql_guard.check_read_only` with the caller's table/column scope before it is
returned, and the caller's sites become a row filter in template SQL. Values are validated
against the vocabularies or an id pattern and then quoted, never pasted raw.

With a :class:`policies.scope.DataScope` the SQL is written for that caller's scoped catalog
(``QueryEngine.for_caller``): rows are already restricted there, and ages come from the scope's
derived column: ``age`` (completed years at the patient's latest study) or, for scopes that only
see 5-year ``age_band`` values, the bands lying wholly inside the asked range (so every patient
returned satisfies it; the explanation names the bands).

Example::

    plan_cohort_query("patients over 65 with cardiomegaly on furosemide").sql
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from core.errors import SageError
from lakehouse.findings import FINDINGS
from lakehouse.sql_guard import check_read_only
from policies.scope import DataScope

_PATIENT_ID = re.compile(r"\bpatient\s+(?:id\s+)?([A-Za-z0-9][A-Za-z0-9_.:-]{0,63})", re.I)
_ICD10 = re.compile(r"\b([A-TV-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?)\b")
# Condition phrase -> ICD-10-CM prefix (the synthetic records' comorbidities and their usual names).
CONDITIONS: dict[str, str] = {
    r"(?:congestive )?heart failure|\bchf\b": "I50",
    r"atrial fibrillation|\ba-?fib\b": "I48",
    r"(?:essential )?hypertension|high blood pressure": "I10",
    r"(?:type 2 )?diabetes(?: mellitus)?|\bt2dm?\b": "E11",
    r"hyperlipid(?:a)?emia|high cholesterol": "E78",
    r"chronic kidney disease|\bckd\b": "N18",
    r"\bcopd\b|chronic obstructive pulmonary disease|emphysema": "J44",
}


class CohortPlanError(SageError):
    """The question matched no template and no SQL writer was given (or it wrote nothing usable)."""


class CohortQuery(BaseModel):
    """A planned query: the SQL to run and how it was obtained."""

    sql: str = Field(description="One read-only DuckDB statement, already checked by the SQL guard.")
    template: str = Field(description="Template name, or 'llm' when a model wrote the SQL.")
    params: dict[str, Any] = Field(default_factory=dict, description="Values read off the question.")
    explanation: str = Field(description="What the query answers, in words.")


def quote(value: str) -> str:
    """A SQL string literal (single quotes doubled): the only way values enter template SQL."""
    return "'" + value.replace("'", "''") + "'"


def _in_list(values: Sequence[str]) -> str:
    return "(" + ", ".join(quote(v) for v in values) + ")"


@functools.cache
def _finding_patterns() -> dict[str, re.Pattern[str]]:
    from lakehouse.labeler.vocabulary import MENTIONS

    patterns: dict[str, re.Pattern[str]] = {}
    for key, name in FINDINGS.items():
        if key == "no_finding":
            continue
        phrases = [re.escape(name.lower()), re.escape(key.replace("_", " "))] + [p for p in MENTIONS.get(key, []) if len(p) > 6]
        patterns[key] = re.compile(r"\b(?:" + "|".join(phrases) + r")\b")
    return patterns


def findings_in(text: str) -> list[str]:
    """Finding keys named in a question (display names, keys or labeler mention phrases)."""
    lowered = text.lower()
    return [key for key, pattern in _finding_patterns().items() if pattern.search(lowered)]


def conditions_in(text: str) -> tuple[list[str], str]:
    """ICD-10 prefixes named in a question, and the question with those phrases blanked."""
    prefixes: list[str] = [m.group(1) for m in _ICD10.finditer(text)]
    lowered = text.lower()
    for phrase, prefix in CONDITIONS.items():
        if re.search(phrase, lowered):
            prefixes.append(prefix)
            lowered = re.sub(phrase, " ", lowered)
    return list(dict.fromkeys(prefixes)), lowered


def drugs_in(text: str) -> list[str]:
    """Generic drug names (lower case) mentioned in ``text``; brand names are mapped to generics."""
    from drug_named_entity_recognition import find_drugs

    tokens = re.findall(r"[a-z0-9][a-z0-9-]*", text.lower())
    return list(dict.fromkeys(str(d["name"]).lower() for d, _, _ in find_drugs(tokens)))


def _age_bounds(text: str) -> tuple[int | None, int | None]:
    lowered = text.lower()
    if m := re.search(r"(?:aged?|between)\s+(\d{1,3})\s*(?:-|to|and)\s*(\d{1,3})", lowered):
        return int(m.group(1)), int(m.group(2))
    low = re.search(r"(?:over|older than|above|at least|>=?)\s*(\d{1,3})", lowered)
    high = re.search(r"(?:under|younger than|below|<=?)\s*(\d{1,3})", lowered)
    # "over 65" means strictly older than 65 years, i.e. at least 66 at their last birthday.
    return (int(low.group(1)) + (0 if "at least" in low.group(0) or ">=" in low.group(0) else 1) if low else None, int(high.group(1)) - 1 if high else None)


def _sex(text: str) -> str | None:
    if re.search(r"\b(?:women|woman|female|females)\b", text, re.I):
        return "female"
    if re.search(r"\b(?:men|man|male|males)\b", text, re.I):
        return "male"
    return None


def _wants_count(text: str) -> bool:
    return bool(re.search(r"\b(?:how many|number of|count)\b", text, re.I))


def _site_clause(alias: str, sites: Sequence[str] | None) -> list[str]:
    return [f"{alias}.site IN {_in_list(sites)}"] if sites is not None else []


def _bands_within(low: int | None, high: int | None) -> list[str]:
    from lakehouse.scoped import age_bands

    return [label for label, lo, hi in age_bands() if (low is None or lo >= low) and (high is None or hi <= high)]


def _age_where(low: int | None, high: int | None, scope: DataScope | None) -> tuple[list[str], str, dict[str, Any]]:
    """Age conditions, the age column to select, and extra params, for the caller's catalog."""
    if scope is None:
        where = []
        if low is not None:
            where.append(f"p.birth_date <= current_date - INTERVAL {low} YEAR")
        if high is not None:
            where.append(f"p.birth_date > current_date - INTERVAL {high + 1} YEAR")
        return where, "CAST(floor(date_diff('day', p.birth_date, current_date) / 365.25) AS INTEGER) AS age", {}
    if scope.age_detail == "exact":
        where = ([f"p.age >= {low}"] if low is not None else []) + ([f"p.age <= {high}"] if high is not None else [])
        return where, "p.age", {}
    if scope.age_detail == "band":
        if low is None and high is None:
            return [], "p.age_band", {}
        bands = _bands_within(low, high)
        return [f"p.age_band IN {_in_list(bands)}" if bands else "FALSE"], "p.age_band", {"age_bands": bands}
    if low is not None or high is not None:
        raise CohortPlanError(f"role {scope.role!r} sees no ages, so an age question cannot be answered", hint="ask without an age, or as a role whose policy shows ages")
    return [], "", {}


def _patient_cohort(question: str, sites: Sequence[str] | None, scope: DataScope | None = None) -> CohortQuery | None:
    conditions, rest = conditions_in(question)
    findings, drugs = findings_in(rest), drugs_in(rest)
    low, high = _age_bounds(question)
    sex = _sex(question)
    if not (conditions or findings or drugs or low is not None or high is not None or sex):
        return None
    where = _site_clause("p", sites)
    age_where, age_column, age_params = _age_where(low, high, scope)
    where += age_where
    if sex:
        where.append(f"p.sex = {quote(sex)}")
    for finding in findings:
        where.append(f"EXISTS (SELECT 1 FROM reports AS r JOIN report_labels AS l ON l.report_id = r.report_id WHERE r.patient_id = p.patient_id AND l.finding = {quote(finding)} AND l.state = 'present')")
    for prefix in conditions:
        where.append(f"EXISTS (SELECT 1 FROM conditions AS c WHERE c.patient_id = p.patient_id AND c.icd10_code LIKE {quote(prefix + '%')})")
    for drug in drugs:
        where.append(f"EXISTS (SELECT 1 FROM medications AS m WHERE m.patient_id = p.patient_id AND lower(m.drug_name) = {quote(drug)})")
    columns = "count(*) AS patients" if _wants_count(question) else ", ".join(c for c in ("p.patient_id", "p.sex", age_column) if c)
    sql = f"SELECT {columns} FROM patients AS p" + (" WHERE " + " AND ".join(where) if where else "") + ("" if _wants_count(question) else " ORDER BY p.patient_id")
    params = {"min_age": low, "max_age": high, "sex": sex, "findings": findings, "icd10_prefixes": conditions, "drugs": drugs, **age_params}
    # Say it the way it was asked: "over 65" is "older than 65" (66 or more at the last birthday), not "66+".
    said = [f"older than {low - 1} (age >= {low} at the last birthday)" if low is not None else "", f"younger than {high + 1} (age <= {high})" if high is not None else "", sex or ""]
    if "age_bands" in age_params:
        said[:2] = [f"age band {', '.join(age_params['age_bands']) or '(none fits)'} (ages are known by 5-year band only)", ""]
    said += [f"{FINDINGS[f]} on a report" for f in findings] + [f"condition ICD-10 {p}*" for p in conditions] + [f"taking {d}" for d in drugs]
    return CohortQuery(sql=sql, template="patient_cohort", params={k: v for k, v in params.items() if v}, explanation="Patients with " + ", ".join(s for s in said if s))


def _match_template(question: str, sites: Sequence[str] | None, scope: DataScope | None = None) -> CohortQuery | None:
    q = question.lower()
    patient = _PATIENT_ID.search(question)
    if patient and re.search(r"\b(?:medications?|meds|drugs|prescriptions?)\b", q):
        pid = patient.group(1)
        sql = f"SELECT m.medication_id, m.drug_name, m.dose, m.route, m.frequency, m.status, m.authored_on FROM medications AS m WHERE m.patient_id = {quote(pid)} ORDER BY m.authored_on"
        return CohortQuery(sql=sql, template="patient_medications", params={"patient_id": pid}, explanation=f"Medications of patient {pid}")
    if patient and re.search(r"\b(?:conditions?|diagnos[ie]s|problems?)\b", q):
        pid = patient.group(1)
        sql = f"SELECT c.condition_id, c.icd10_code, c.description, c.onset, c.clinical_status FROM conditions AS c WHERE c.patient_id = {quote(pid)} ORDER BY c.onset"
        return CohortQuery(sql=sql, template="patient_conditions", params={"patient_id": pid}, explanation=f"Conditions of patient {pid}")
    if re.search(r"\b(?:by|per|each)\s+finding\b|\bfinding (?:counts?|frequenc(?:y|ies)|prevalence)\b", q):
        where = " AND ".join(["l.state = 'present'", *_site_clause("r", sites)])
        sql = f"SELECT l.finding, count(DISTINCT l.report_id) AS reports FROM report_labels AS l JOIN reports AS r ON r.report_id = l.report_id WHERE {where} GROUP BY l.finding ORDER BY reports DESC, l.finding"
        return CohortQuery(sql=sql, template="finding_counts", explanation="Number of reports with each finding present")
    if re.search(r"\b(?:reports?|studies|stud(?:y)|x-?rays?|cases?|films?)\b", q) and not re.search(r"\bpatients?\b", q):
        findings = findings_in(q)
        if findings:
            where = " AND ".join([f"l.finding IN {_in_list(findings)}", "l.state = 'present'", *_site_clause("r", sites)])
            body = f"FROM reports AS r JOIN report_labels AS l ON l.report_id = r.report_id WHERE {where}"
            sql = f"SELECT count(DISTINCT r.report_id) AS reports {body}" if _wants_count(q) else f"SELECT DISTINCT r.report_id, r.patient_id, r.study_date, r.impression {body} ORDER BY r.report_id"
            return CohortQuery(sql=sql, template="reports_with_finding", params={"findings": findings}, explanation="Reports with " + " or ".join(FINDINGS[f] for f in findings) + " present")
    if re.search(r"\bpatients?\b|\b(?:people|men|women)\b", q):
        return _patient_cohort(question, sites, scope)
    return None


def plan_cohort_query(
    question: str,
    *,
    write_sql: Callable[[str], str] | None = None,
    sites: Sequence[str] | None = None,
    allowed_tables: set[str] | None = None,
    allowed_columns: dict[str, set[str]] | None = None,
    scope: DataScope | None = None,
) -> CohortQuery:
    """Plan the SQL answering ``question``: a template if one fits, else ``write_sql(question)``.

    Args:
        question: The clinician's question, e.g. "patients over 65 with cardiomegaly on furosemide".
        write_sql: Fallback that returns SQL for a question no template covers (an LLM call).
        sites: The caller's allowed sites; template SQL filters rows to them (None: no row filter).
        allowed_tables: Tables the caller may read (guard scope; None: any lakehouse table).
        allowed_columns: Per-table column allowlist (guard scope).
        scope: The caller's data scope: write SQL for its scoped catalog (run it on
            ``QueryEngine.for_caller(scope)``); rows are already restricted there, so ``sites``
            is not needed, and ages use the scope's ``age``/``age_band`` column.

    Raises:
        CohortPlanError: no template fits and there is no ``write_sql``, or it returned nothing.
        ForbiddenQueryError: the SQL is not a read-only query within the caller's scope.
    """
    question = question.strip()
    if not question:
        raise CohortPlanError("the question is empty", hint='ask e.g. "patients over 65 with cardiomegaly on furosemide"')
    plan = _match_template(question, sites, scope)
    if plan is None:
        if write_sql is None:
            raise CohortPlanError(f"no query template fits {question[:80]!r}", hint="ask about patients (age, sex, finding, condition, drug), reports with a finding, counts by finding, or a patient's medications/conditions")
        sql = write_sql(question).strip().rstrip(";")
        if not sql:
            raise CohortPlanError("the model wrote no SQL for the question", hint="rephrase it, or write the SQL yourself with `sagehealth query`")
        plan = CohortQuery(sql=sql, template="llm", explanation=f"Model-written SQL for: {question[:200]}")
    plan.sql = check_read_only(plan.sql, allowed_tables, allowed_columns)
    return plan
