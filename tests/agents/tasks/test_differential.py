from __future__ import annotations

import re

import pytest

from agents.tasks.differential import SPEC, DifferentialInput, UnknownPatientError
from agents.tasks.prompts import DIFFERENTIAL_DISCLAIMER

FORBIDDEN = re.compile(r"\b(?:diagnosed with|the diagnosis is|final diagnosis|confirms?|definitely|certainly has)\b", re.I)


def _patient_with(direct, finding: str) -> tuple[str, str]:  # noqa: ANN001
    sql = f"SELECT r.patient_id, r.findings FROM reports r JOIN report_labels l ON l.report_id = r.report_id WHERE l.finding = '{finding}' AND l.state = 'present' AND r.findings <> '' LIMIT 1"
    row = direct.call_tool("query_records", {"sql": sql}).rows[0]
    return row["patient_id"], row["findings"]


def test_ranked_with_evidence_and_never_a_diagnosis(direct) -> None:  # noqa: ANN001
    pid, findings = _patient_with(direct, "cardiomegaly")
    task = DifferentialInput(findings=findings, patient_id=pid, k=5)
    evidence = SPEC.retrieve(direct, task)
    result = SPEC.compose(direct, task, evidence, None)
    assert result.disclaimer == DIFFERENTIAL_DISCLAIMER and "not a diagnosis" in result.disclaimer
    items = result.considerations
    assert items and [c.score for c in items] == sorted((c.score for c in items), reverse=True)
    cardio = next(c for c in items if c.code == "cardiomegaly")
    assert cardio.confidence in ("moderate", "high") and any("findings text: present" in e for e in cardio.evidence)
    assert all(0 < c.score <= 1 and c.evidence and c.confidence in ("low", "moderate", "high") for c in items)
    record_conditions = {r["icd10_code"] for r in evidence["record"]["conditions"]}
    assert record_conditions == {c.code for c in items if c.kind == "condition"}
    assert len(result.cited_cases) == 5 and pid in evidence["ids"]
    text = result.model_dump_json()
    assert not FORBIDDEN.search(text), FORBIDDEN.search(text)


def test_stated_absent_findings_are_not_considered(direct) -> None:  # noqa: ANN001
    result = SPEC.compose(direct, task := DifferentialInput(findings="No pneumothorax. No pleural effusion. Heart size normal."), SPEC.retrieve(direct, task), None)
    assert not any(c.code in ("pneumothorax", "pleural_effusion") for c in result.considerations)


def test_unknown_patient_is_a_clear_error(direct) -> None:  # noqa: ANN001
    with pytest.raises(UnknownPatientError, match="no-such-patient"):
        SPEC.retrieve(direct, DifferentialInput(findings="Cardiomegaly.", patient_id="no-such-patient"))
    assert [n for n, _ in direct.calls] == ["get_patient_record"]  # stopped before anything else
