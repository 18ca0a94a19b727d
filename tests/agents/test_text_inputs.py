"""Chat lines become task inputs: drugs, patient ids and findings read off free text."""

from __future__ import annotations

import pytest

from agents.tasks.base import TaskInputError
from agents.tasks.differential import DifferentialInput
from agents.tasks.interactions import InteractionInput
from agents.tasks.report import ReportInput
from agents.tasks.text_inputs import clinical_text, patient_id_in
from lakehouse.knowledge.drugs import drugs_in_text

PID = "3f2c0f7e-1111-5222-8333-444455556666"


def test_drugs_in_order_with_brands_and_multiword_names() -> None:
    found = drugs_in_text("Can I give clarithromycin to a patient on Zocor, Coumadin and potassium chloride?")
    assert [d.name for d in found] == ["Clarithromycin", "Simvastatin", "Warfarin", "Potassium chloride"]
    assert found[1].is_brand and found[1].query.lower() == "zocor"


def test_no_drug_in_plain_text() -> None:
    assert drugs_in_text("the patient feels better today") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"check interactions for {PID}", PID),
        ("diagnosis support for patient P12", "P12"),
        ("pt #4471 on warfarin", "4471"),
        ("the patient is febrile", None),
    ],
)
def test_patient_ids(text: str, expected: str | None) -> None:
    assert patient_id_in(text) == expected


def test_interaction_input_from_text() -> None:
    task = InteractionInput.from_text(f"is aspirin safe with warfarin for patient {PID}?")
    assert (task.proposed, task.current, task.patient_id) == ("Aspirin", ["Warfarin"], PID)
    with pytest.raises(TaskInputError, match="no drug"):
        InteractionInput.from_text("is it safe?")


def test_findings_after_a_request_prefix() -> None:
    text = "Draft an impression for these findings: heart size is enlarged, small bilateral effusions"
    assert ReportInput.from_text(text).findings == "heart size is enlarged, small bilateral effusions"
    assert clinical_text("Heart size normal. Lungs clear.") == "Heart size normal. Lungs clear."
    assert DifferentialInput.from_text("what could explain these findings: right lower lobe opacity, patient P7").patient_id == "P7"
