"""What one synthetic patient offers a de-identification document: identifiers and clinical content.

Built from the same seeded bundle the lakehouse ingests (:func:`lakehouse.synth.generate.build_bundle`),
so the de-id set's patients are the lakehouse's patients (their names are in the raw tier, as
the redactor's deny-list expects), plus identifiers the bundle does not carry but clinical
documents do (encounter and insurance numbers, fax, e-mail, a portal URL, relatives and other
clinicians), drawn from a generator seeded by the same key.
"""

from __future__ import annotations

import random
import re
from datetime import date

from faker import Faker
from pydantic import BaseModel

from lakehouse.synth.generate import build_bundle

_XXXX = re.compile(r"XXXX")
_AGE_PHRASE = re.compile(r"\b(?:XXXX|\d+)[- ]years?[- ]old\s*", re.IGNORECASE)
_MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"


class Lab(BaseModel):
    """One lab result as a note writes it."""

    name: str
    value: float
    unit: str


class PatientFacts(BaseModel):
    """Identifiers and clinical content of one synthetic patient."""

    patient_id: str
    report_id: str
    given: str
    family: str
    sex: str
    birth: date
    study: date
    age: int
    mrn: str
    accession: str
    encounter_uuid: str
    street: str
    city: str
    state: str
    postal: str
    phone: str
    fax: str
    email: str
    portal_url: str
    encounter_no: str
    insurance_id: str
    relative: str
    relation: str
    relative_phone: str
    doctor: str
    nurse: str
    consultant: str
    indication: str
    findings: list[str]
    impression: list[str]
    conditions: list[str]
    drugs: list[str]
    labs: list[Lab]


def _clean_sentences(text: str) -> list[str]:
    """Sentences of a report section without the source's ``XXXX`` redactions."""
    parts = re.split(r"(?<=\.)\s+", text.strip())
    return [p for p in parts if p and not _XXXX.search(p) and len(p) > 3]


def _mbi(rng: random.Random) -> str:
    pick = rng.choice
    return (f"{rng.randint(1, 9)}{pick(_MBI_LETTERS)}{pick(_MBI_LETTERS)}{rng.randint(0, 9)}-"
            f"{pick(_MBI_LETTERS)}{pick(_MBI_LETTERS)}{rng.randint(0, 9)}-{pick(_MBI_LETTERS)}{pick(_MBI_LETTERS)}{rng.randint(10, 99)}")


def patient_facts(report: object, seed: int, site: str) -> PatientFacts:
    """The facts of the patient the lakehouse generates for ``report`` (an ``IndianaReport``)."""
    bundle, ledger = build_bundle(report, seed, site)  # type: ignore[arg-type]
    resources = [e["resource"] for e in bundle["entry"]]
    by_type: dict[str, list[dict]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    patient, dr = by_type["Patient"][0], by_type["DiagnosticReport"][0]
    address = patient["address"][0]
    doctor = next(i.value for i in ledger.phi if i.type == "NAME" and i.where == "report.header")
    study = date.fromisoformat(dr["effectiveDateTime"][:10])
    birth = date.fromisoformat(patient["birthDate"])
    age = study.year - birth.year - ((study.month, study.day) < (birth.month, birth.day))
    rng = random.Random(f"deid|{seed}|{site}|{ledger.report_id}")
    fake = Faker("en_US")
    fake.seed_instance(rng.randrange(2**32))
    area = rng.choice(("317", "463", "765", "812", "260", "574"))
    relation = rng.choice(("daughter", "son", "wife", "husband", "sister", "brother", "niece"))
    relative = fake.first_name_female() if relation in {"daughter", "wife", "sister", "niece"} else fake.first_name_male()
    encounter_no = rng.choice((f"ENC{rng.randrange(10**10):010d}", f"{rng.randrange(10**8):08d}", f"CSN{rng.randrange(10**9):09d}"))
    insurance_id = rng.choice((
        "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(3)) + f"{rng.randrange(10**9):09d}",
        f"W{rng.randrange(10**9):09d}", _mbi(rng), f"{rng.randrange(10**11):011d}"))
    labs = [Lab(name=o["code"]["text"].split(" [")[0].split(" in ")[0], value=o["valueQuantity"]["value"],
                unit=o["valueQuantity"]["unit"]) for o in by_type.get("Observation", [])]
    extension = {p["url"]: p["valueString"] for p in dr.get("extension", [{}])[0].get("extension", []) if p["url"] != "mesh"}
    indication = getattr(report, "indication", "") or extension.get("indication", "")
    return PatientFacts(
        patient_id=patient["id"], report_id=ledger.report_id, given=patient["name"][0]["given"][0],
        family=patient["name"][0]["family"], sex=patient["gender"], birth=birth, study=study, age=age,
        mrn=patient["identifier"][0]["value"], accession=dr["identifier"][1]["value"],
        encounter_uuid=by_type["Encounter"][0]["id"], street=address["line"][0], city=address["city"],
        state=address["state"], postal=address["postalCode"], phone=patient["telecom"][0]["value"],
        fax=f"({area}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}", email=fake.email(),
        portal_url=f"https://portal.{fake.domain_word()}.org/chart/{rng.randrange(10**7):07d}",
        encounter_no=encounter_no, insurance_id=insurance_id, relative=f"{relative} {fake.last_name()}",
        relation=relation, relative_phone=f"{area}-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
        doctor=doctor, nurse=f"{fake.first_name()} {fake.last_name()}", consultant=f"{fake.first_name()} {fake.last_name()}",
        indication=" ".join(_clean_sentences(_AGE_PHRASE.sub("", indication))).strip(" ,.") or "Chest pain",
        findings=_clean_sentences(getattr(report, "findings", "")) or ["No acute cardiopulmonary abnormality."],
        impression=_clean_sentences(getattr(report, "impression", "")) or ["No acute disease."],
        conditions=[c["code"]["text"] for c in by_type.get("Condition", [])],
        drugs=[f'{m["medicationCodeableConcept"]["text"]} {m["dosageInstruction"][0]["text"]}' for m in by_type.get("MedicationRequest", [])],
        labs=labs,
    )
