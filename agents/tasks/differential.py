"""Task "differential": a ranked list of considerations for a chest X-ray, with evidence and confidence.

Decision support, never a diagnosis: every item is worded as something to consider, carries the
evidence behind it and a stated confidence, and the output ends with a fixed disclaimer.
Candidates are the 13 abnormal chest findings plus the conditions in the patient's record.
A finding's score adds up what supports it:

- the findings text (present 0.55, uncertain 0.30; stated absent scores nothing);
- similar prior cases (0.25 x the share of retrieved cases that have it);
- the record (0.20 x linked evidence, capped): conditions and drugs linked to the finding in the
  knowledge graph (:mod:`lakehouse.knowledge.graph`) and lab values that point the same way.

Confidence is low below 0.35, moderate below 0.65, high above. The weights are hand-set and
documented here, not learned: the list orders evidence, it does not estimate probabilities.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from agents.tasks.base import TaskContext, TaskSpec, register_task
from agents.tasks.evidence import call, dump, dump_all, load
from agents.tasks.prompts import DIFFERENTIAL_DISCLAIMER
from agents.tasks.text_inputs import clinical_text, patient_id_in
from core.errors import SageError
from lakehouse.findings import FINDINGS, positive_findings
from lakehouse.retrieval import CaseEvidence
from tools.clinical import FindingLabels
from tools.records import PatientRecord
from tools.retrieval import SimilarCases

Confidence = Literal["low", "moderate", "high"]
TEXT_WEIGHT = {"present": 0.55, "uncertain": 0.30}
NEIGHBOUR_WEIGHT = 0.25
RECORD_WEIGHT = 0.20
LAB_SOURCE = "usual adult reference limits (BNP > 100 pg/mL, WBC > 11 x10^3/uL, SpO2 < 94 %)"
# LOINC -> (is abnormal?, what it points to, how it reads).
LAB_RULES: dict[str, tuple[Any, tuple[str, ...], str]] = {
    "30934-4": (lambda v: v > 100, ("edema", "cardiomegaly", "pleural_effusion", "I50"), "raised BNP"),
    "6690-2": (lambda v: v > 11, ("pneumonia", "consolidation", "J18"), "raised white cell count"),
    "59408-5": (lambda v: v < 94, ("pneumonia", "consolidation", "edema", "atelectasis"), "low oxygen saturation"),
}


class UnknownPatientError(SageError):
    """The patient id is not in the record."""


class DifferentialInput(BaseModel):
    """A diagnosis-support request."""

    findings: str = Field(min_length=1, max_length=5000, description="FINDINGS (and optionally impression) text of the chest X-ray report.")
    patient_id: str | None = Field(None, max_length=64, description="Patient whose record adds evidence (conditions, drugs, labs).")
    k: int = Field(5, ge=1, le=20, description="Similar prior cases to consult (1-20).")

    @classmethod
    def from_text(cls, text: str) -> DifferentialInput:
        """Read a chat line: the findings after any "...findings:" prefix, and a named patient id."""
        return cls(findings=clinical_text(text), patient_id=patient_id_in(text))


class Consideration(BaseModel):
    """One ranked item of the differential."""

    name: str
    kind: Literal["finding", "condition"]
    code: str | None = Field(None, description="Finding key or ICD-10 code.")
    statement: str = Field(description="Decision-support wording: something to consider, never a diagnosis.")
    confidence: Confidence
    score: float
    evidence: list[str]


class Differential(BaseModel):
    """Ranked considerations with evidence, and the disclaimer."""

    considerations: list[Consideration]
    query_labels: dict[str, str]
    cited_cases: list[str]
    patient_id: str | None = None
    disclaimer: str = DIFFERENTIAL_DISCLAIMER


def retrieve(ctx: TaskContext, task: BaseModel) -> dict[str, Any]:
    """Labels of the text, similar cases, and the patient's record (unknown patient: error)."""
    assert isinstance(task, DifferentialInput)
    record: PatientRecord | None = None
    if task.patient_id:
        record = call(ctx, "get_patient_record", {"patient_id": task.patient_id}, PatientRecord)
        if record.patient is None:
            raise UnknownPatientError(f"no patient {task.patient_id!r} in the record", hint="check the id (e.g. with `sagehealth query \"SELECT patient_id FROM patients LIMIT 5\"`)")
    labels = call(ctx, "label_findings", {"text": task.findings}, FindingLabels).labels
    hits = call(ctx, "retrieve_similar_cases", {"findings": task.findings, "k": task.k, "mode": "retrieval-only", "exclude_ids": []}, SimilarCases).hits
    ids = [h.case_id for h in hits] + ([task.patient_id] if task.patient_id else [])
    return {"ids": ids, "hits": dump_all(hits), "query_labels": dict(labels), "record": dump(record) if record else None}


def _confidence(score: float) -> Confidence:
    return "high" if score >= 0.65 else "moderate" if score >= 0.35 else "low"


def _kg_codes(finding: str) -> set[str]:
    from lakehouse.knowledge.graph import UnknownNodeError, neighbors

    try:
        return {e.target.removeprefix("icd10:") for e in neighbors(f"finding:{finding}") if e.target.startswith("icd10:")}
    except UnknownNodeError:
        return set()


def _kg_drugs(code: str) -> set[str]:
    from lakehouse.knowledge.graph import UnknownNodeError, neighbors

    try:
        return {e.target.removeprefix("drug:") for e in neighbors(f"icd10:{code}") if e.kind == "treated_by"}
    except UnknownNodeError:
        return set()


def _abnormal_labs(record: PatientRecord | None) -> list[tuple[str, tuple[str, ...]]]:
    found = []
    for obs in record.labs if record else []:
        rule = LAB_RULES.get(str(obs.get("loinc_code")))
        value = obs.get("value")
        if rule and isinstance(value, int | float) and rule[0](value):
            found.append((f"{rule[2]} ({value:g} {obs.get('unit') or ''}".rstrip() + ")", rule[1]))
    return found


def _score_finding(key: str, state: str | None, hits: list[CaseEvidence], conditions: list[dict[str, Any]], drugs: set[str], labs: list[tuple[str, tuple[str, ...]]]) -> tuple[float, list[str]]:
    evidence: list[str] = []
    score = TEXT_WEIGHT.get(state or "", 0.0)
    if state in TEXT_WEIGHT:
        evidence.append(f"findings text: {state}")
    elif state == "absent":
        evidence.append("findings text: stated absent")
    share = sum(key in h.positive_findings for h in hits) / len(hits) if hits else 0.0
    if share:
        score += NEIGHBOUR_WEIGHT * share
        evidence.append(f"{round(share * len(hits))} of {len(hits)} similar prior cases have it")
    codes = _kg_codes(key)
    links = [f"record condition {c.get('description') or c.get('icd10_code')} ({c.get('icd10_code')}) is linked to it" for c in conditions if any(str(c.get("icd10_code", "")).startswith(code.split(".")[0]) for code in codes)]
    links += [f"record drug {d} treats a linked condition" for d in sorted(drugs & set().union(*(_kg_drugs(c) for c in codes)))] if codes else []
    links += [f"lab: {text} points the same way" for text, targets in labs if key in targets]
    if links:
        score += RECORD_WEIGHT * min(1.0, len(links) / 2)
        evidence += links
    return (0.0 if state == "absent" else min(score, 1.0)), evidence


def _score_condition(cond: dict[str, Any], labels: dict[str, str], hits: list[CaseEvidence], labs: list[tuple[str, tuple[str, ...]]]) -> tuple[float, list[str]]:
    code = str(cond.get("icd10_code", ""))
    evidence = [f"documented in the record ({code}, {cond.get('clinical_status') or 'status unknown'})"]
    score = 0.30
    linked = [k for k in positive_findings(labels) if any(code.startswith(c.split(".")[0]) for c in _kg_codes(k))]  # type: ignore[arg-type]
    if linked:
        score += 0.35
        evidence.append("findings text states linked findings: " + ", ".join(FINDINGS[k] for k in linked))
    shared = [h.case_id for h in hits if set(h.positive_findings) & set(linked)]
    if shared and hits:
        score += 0.15 * len(shared) / len(hits)
        evidence.append(f"{len(shared)} of {len(hits)} similar prior cases share those findings")
    lab_links = [text for text, targets in labs if any(code.startswith(t) for t in targets)]
    if lab_links:
        score += 0.15
        evidence += [f"lab: {t}" for t in lab_links]
    return min(score, 1.0), evidence


def compose(ctx: TaskContext, task: BaseModel, evidence: dict[str, Any], drafts: dict[str, Any] | None) -> Differential:
    """Rank findings and record conditions by their evidence."""
    assert isinstance(task, DifferentialInput)
    labels: dict[str, str] = dict(evidence.get("query_labels", {}))
    hits = load(evidence.get("hits", []), CaseEvidence)
    record = PatientRecord.model_validate(evidence["record"]) if evidence.get("record") else None
    conditions = record.conditions if record else []
    drugs = {str(m.get("drug_name", "")).lower() for m in (record.medications if record else [])}
    labs = _abnormal_labs(record)
    items: list[Consideration] = []
    for key, name in FINDINGS.items():
        if key == "no_finding":
            continue
        score, why = _score_finding(key, labels.get(key), hits, conditions, drugs, labs)
        if score > 0:
            items.append(Consideration(name=name, kind="finding", code=key, statement=f"Consider {name.lower()}: supported by {len(why)} line(s) of evidence.", confidence=_confidence(score), score=round(score, 3), evidence=why))
    for cond in {str(c.get("icd10_code")): c for c in conditions}.values():
        score, why = _score_condition(cond, labels, hits, labs)
        label = str(cond.get("description") or cond.get("icd10_code"))
        items.append(Consideration(name=label, kind="condition", code=str(cond.get("icd10_code")), statement=f"Known condition to weigh: {label}; consider whether the imaging fits it.", confidence=_confidence(score), score=round(score, 3), evidence=why))
    items.sort(key=lambda c: (-c.score, c.name))
    return Differential(considerations=items, query_labels=labels, cited_cases=[h.case_id for h in hits], patient_id=task.patient_id)


SPEC = register_task(
    TaskSpec(
        name="differential",
        description="Diagnosis support: a ranked list of findings and conditions to consider for a chest X-ray, with evidence from similar cases and the patient record.",
        input_model=DifferentialInput,
        output_model=Differential,
        retrieve=retrieve,
        compose=compose,
        tools=("get_patient_record", "label_findings", "retrieve_similar_cases"),
        examples=("what could explain these findings", "differential diagnosis for this chest x-ray", "diagnosis support for patient P12"),
    )
)
