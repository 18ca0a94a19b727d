from __future__ import annotations

import pytest

from agents.tasks.differential import UnknownPatientError
from agents.tasks.interactions import SPEC, InteractionInput
from lakehouse.knowledge.drugs import UnknownDrugError


def test_named_drugs_interaction_has_severity_and_source(direct) -> None:  # noqa: ANN001
    task = InteractionInput(current=["warfarin", "metformin"], proposed="amiodarone")
    report = SPEC.compose(direct, task, SPEC.retrieve(direct, task), None)
    assert report.interactions, report
    hit = report.interactions[0]
    assert hit.severity and hit.mechanism and hit.management and hit.source
    assert "warfarin" in report.summary and "amiodarone" in report.summary


def test_current_drugs_come_from_the_record(direct) -> None:  # noqa: ANN001
    rows = direct.call_tool("query_records", {"sql": "SELECT patient_id FROM medications WHERE drug_name = 'simvastatin' LIMIT 1"}).rows
    if not rows:
        pytest.skip("no patient on simvastatin in the small lakehouse")
    pid = rows[0]["patient_id"]
    task = InteractionInput(patient_id=pid, proposed="clarithromycin")
    evidence = SPEC.retrieve(direct, task)
    assert "simvastatin" in evidence["current"] and pid in evidence["ids"]
    report = SPEC.compose(direct, task, evidence, None)
    assert any("simvastatin" in (i.drug_a, i.drug_b) for i in report.interactions)


def test_unknown_drug_and_patient_are_clear_errors(direct) -> None:  # noqa: ANN001
    task = InteractionInput(current=["warfarin"], proposed="amiodarrone")
    with pytest.raises(UnknownDrugError, match="amiodarrone") as err:
        SPEC.compose(direct, task, SPEC.retrieve(direct, task), None)
    assert "amiodarone" in (err.value.hint or "")
    with pytest.raises(UnknownPatientError, match="nobody-42"):
        SPEC.retrieve(direct, InteractionInput(patient_id="nobody-42", proposed="aspirin"))
