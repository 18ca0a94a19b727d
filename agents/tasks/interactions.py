"""Task "interactions": check a proposed drug against the patient's current drugs.

Current drugs come from the record when a patient id is given (active medication rows), plus any
named in the request. The curated interaction table (:mod:`lakehouse.knowledge.interactions`)
answers through the ``check_interactions`` tool; each interaction carries its severity,
mechanism, management and public source. An unknown drug name is an error with suggestions.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from agents.tasks.base import TaskContext, TaskInputError, TaskSpec, register_task
from agents.tasks.differential import UnknownPatientError
from agents.tasks.evidence import call
from agents.tasks.text_inputs import drugs_in_text, patient_id_in
from lakehouse.knowledge.interactions import Interaction
from tools.clinical import Interactions
from tools.records import PatientRecord

INACTIVE = {"stopped", "completed", "cancelled", "entered-in-error"}


class InteractionInput(BaseModel):
    """A drug-interaction check request."""

    patient_id: str | None = Field(None, max_length=64, description="Patient whose active medications are the current drugs.")
    current: list[str] = Field(default_factory=list, max_length=100, description="Current drugs (generic or brand names) in addition to the record's.")
    proposed: str = Field(min_length=2, max_length=100, description="Drug being considered, e.g. 'clarithromycin'.")

    @field_validator("proposed")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return value.strip()

    @classmethod
    def from_text(cls, text: str) -> InteractionInput:
        """Read a chat line: the first drug named is the proposed one, the others are current.

        Interactions are symmetric pairs, so the order only changes the summary's wording.
        Raises ``TaskInputError`` when the line names no drug at all.
        """
        drugs = [d.name for d in drugs_in_text(text)]
        if not drugs:
            raise TaskInputError("no drug name found in the request", hint="name the drug to check, e.g. 'is aspirin safe with warfarin'")
        return cls(proposed=drugs[0], current=drugs[1:], patient_id=patient_id_in(text))


class InteractionReport(BaseModel):
    """Interactions found, most severe first."""

    proposed: str
    current: list[str]
    interactions: list[Interaction]
    summary: str
    patient_id: str | None = None


def retrieve(ctx: TaskContext, task: BaseModel) -> dict[str, Any]:
    """Current drugs: the record's active medications plus those named in the request."""
    assert isinstance(task, InteractionInput)
    current = list(task.current)
    ids: list[str] = []
    if task.patient_id:
        record = call(ctx, "get_patient_record", {"patient_id": task.patient_id}, PatientRecord)
        if record.patient is None:
            raise UnknownPatientError(f"no patient {task.patient_id!r} in the record", hint="check the patient id")
        meds = [m for m in record.medications if str(m.get("status") or "active").lower() not in INACTIVE]
        current += [str(m["drug_name"]) for m in meds if m.get("drug_name")]
        ids = [task.patient_id] + [str(m["medication_id"]) for m in meds if m.get("medication_id")]
    return {"ids": ids, "current": list(dict.fromkeys(current))}


def compose(ctx: TaskContext, task: BaseModel, evidence: dict[str, Any], drafts: dict[str, Any] | None) -> InteractionReport:
    """Look the pairs up and summarise the most severe."""
    assert isinstance(task, InteractionInput)
    current = list(evidence.get("current", []))
    found = call(ctx, "check_interactions", {"current": current, "proposed": task.proposed}, Interactions).interactions
    if found and not current:
        partners = ", ".join(f"{(i.between or (i.drug_b,))[0]} ({i.severity})" for i in found[:15])
        summary = f"{len(found)} known interaction(s) of {task.proposed} in the curated table, most severe first: {partners}. Name the patient or the other drugs to check a specific combination."
    elif found:
        worst = found[0]
        partner = (worst.between or (worst.drug_a,))[0]
        summary = (
            f"{len(found)} interaction(s) with {task.proposed}; most severe: {worst.severity} with {partner}. "
            f"{worst.mechanism}. Management: {worst.management}. Source: {worst.source}."
        )
    else:
        summary = f"No interaction between {task.proposed} and {', '.join(current) or 'no current drugs'} is listed in the curated table (absence is not proof of safety)."
    return InteractionReport(proposed=task.proposed, current=current, interactions=found, summary=summary, patient_id=task.patient_id)


SPEC = register_task(
    TaskSpec(
        name="interactions",
        description="Check a proposed drug against the patient's current medications for known interactions, with severity, mechanism, management and source.",
        input_model=InteractionInput,
        output_model=InteractionReport,
        retrieve=retrieve,
        compose=compose,
        tools=("get_patient_record", "check_interactions"),
        examples=("can I give clarithromycin to a patient on simvastatin", "check interactions of amiodarone for patient P12", "is aspirin safe with warfarin"),
    )
)
