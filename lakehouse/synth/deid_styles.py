"""Seven clinical document styles for the de-identification set, each recording its PHI spans as it writes.

A :class:`DocWriter` appends literal text, PHI (typed) and clinical content; the offsets are
known because the writer produced them, never searched for afterwards. Each style draws its
wording, date and phone formats and the forms of a name ("Wong, Alice", "Ms. Wong", "Alice")
from the seeded generator, so one patient yields different documents.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta

from pydantic import BaseModel

from lakehouse.synth.deid_facts import PatientFacts


class Span(BaseModel):
    """A typed span of a generated document (PHI type, or ``CLINICAL`` for clinical content)."""

    type: str
    start: int
    end: int


class DocWriter:
    """Builds a text and the spans of what was written into it."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.parts: list[str] = []
        self.size = 0
        self.spans: list[Span] = []

    def t(self, text: str) -> DocWriter:
        """Literal text (labels, connecting words): neither PHI nor clinical content."""
        self.parts.append(text)
        self.size += len(text)
        return self

    def _typed(self, kind: str, text: str) -> DocWriter:
        self.spans.append(Span(type=kind, start=self.size, end=self.size + len(text)))
        return self.t(text)

    def phi(self, kind: str, text: str) -> DocWriter:
        """A PHI string of type ``kind`` (NAME, MRN, DATE, ...)."""
        return self._typed(kind, text)

    def clin(self, text: str) -> DocWriter:
        """Clinical content a de-identified text must keep (findings, drugs, labs, ages under 90)."""
        return self._typed("CLINICAL", text)

    def text(self) -> str:
        """The document so far."""
        return "".join(self.parts)

    # -- formats -----------------------------------------------------------------------------
    def date(self, day: date) -> DocWriter:
        """A date in one of the forms clinicians write."""
        style = self.rng.choice(("%m/%d/%Y", "%Y-%m-%d", "%B {d}, %Y", "%b {d}, %Y", "%m/%d/%y", "{d} %b %Y", "%m-%d-%Y"))
        return self.phi("DATE", day.strftime(style).replace("{d}", str(day.day)))

    def phone(self, number: str, kind: str = "PHONE") -> DocWriter:
        """``(317) 555-0143`` or one of its common rewritings."""
        digits = "".join(c for c in number if c.isdigit())[-10:]
        a, b, c = digits[:3], digits[3:6], digits[6:]
        return self.phi(kind, self.rng.choice((f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"+1 {a} {b} {c}")))

    def age(self, years: int) -> DocWriter:
        """The age in a common form: PHI when over 89 (HIPAA Safe Harbor), clinical content otherwise."""
        form = self.rng.choice(("{a}-year-old", "{a} yo", "{a} y/o", "age {a}", "{a}-year-old", "{a} years old"))
        text = form.format(a=years)
        if years > 89:
            if form.startswith("age "):
                return self.t("age ").phi("AGE", str(years))
            return self.phi("AGE", text)
        return self.clin(text)

    def patient_name(self, p: PatientFacts, form: str | None = None) -> DocWriter:
        """The patient's name as a header, a letter or a nurse would write it."""
        form = form or self.rng.choice(("full", "last_first", "title", "caps"))
        title = "Mr." if p.sex == "male" else self.rng.choice(("Ms.", "Mrs."))
        if form == "last_first":
            return self.phi("NAME", p.family).t(", ").phi("NAME", p.given)
        if form == "title":
            return self.t(f"{title} ").phi("NAME", p.family)
        if form == "caps":
            return self.phi("NAME", p.family.upper()).t(", ").phi("NAME", p.given.upper())
        if form == "given":
            return self.phi("NAME", p.given)
        return self.phi("NAME", f"{p.given} {p.family}")

    def address(self, p: PatientFacts) -> DocWriter:
        """Street, city, state and ZIP on one line."""
        return self.phi("STREET", p.street).t(", ").phi("CITY", p.city).t(f", {p.state} ").phi("ZIP", p.postal)

    def lines(self, items: list[str], bullet: str = "- ") -> DocWriter:
        """Clinical items one per line."""
        for item in items:
            self.t(bullet).clin(item).t("\n")
        return self


def _sentences(w: DocWriter, items: list[str]) -> DocWriter:
    for i, s in enumerate(items):
        w.t(" " if i else "").clin(s)
    return w


def radiology_request(w: DocWriter, p: PatientFacts) -> None:
    """An order for a chest X-ray."""
    w.t("RADIOLOGY REQUEST\nPatient: ").patient_name(p, w.rng.choice(("last_first", "full", "caps"))).t("\nMRN: ").phi("MRN", p.mrn)
    w.t("\nDOB: ").date(p.birth).t("\nEncounter #: ").phi("ENCOUNTER", p.encounter_no).t("\nAccession: ").phi("ACCESSION", p.accession)
    w.t("\nExam requested: ").clin("XR Chest 2 Views").t(" on ").date(p.study)
    w.t("\nClinical history: ").age(p.age).t(f" {p.sex} with ").clin(p.indication).t(".")
    w.t("\nOrdering physician: Dr. ").phi("NAME", p.doctor).t(", pager ").phone(p.phone)
    w.t("\nResults to fax: ").phone(p.fax, "FAX").t("\n")


def radiology_report(w: DocWriter, p: PatientFacts) -> None:
    """The lakehouse's own report layout (the DiagnosticReport's presented form)."""
    w.t("PATIENT: ").patient_name(p, "last_first").t("\nMRN: ").phi("MRN", p.mrn).t("\nDOB: ").date(p.birth)
    w.t("\nADDRESS: ").address(p).t("\nPHONE: ").phone(p.phone).t("\nACCESSION: ").phi("ACCESSION", p.accession)
    w.t("\nEXAM DATE: ").date(p.study).t("\nORDERING PHYSICIAN: Dr. ").phi("NAME", p.doctor)
    w.t("\n\nINDICATION: ").clin(p.indication).t("\n\nCOMPARISON: ").date(p.study - timedelta(days=w.rng.randint(30, 900)))
    _sentences(w.t("\n\nFINDINGS: "), p.findings)
    _sentences(w.t("\n\nIMPRESSION: "), p.impression).t("\n")


def discharge_note(w: DocWriter, p: PatientFacts) -> None:
    """A discharge summary with problems, medications and follow-up."""
    admit = p.study - timedelta(days=w.rng.randint(1, 6))
    w.t("DISCHARGE SUMMARY\nName: ").patient_name(p, "full").t("   MRN: ").phi("MRN", p.mrn).t("   Acct: ").phi("ENCOUNTER", p.encounter_no)
    w.t("\nAdmitted: ").date(admit).t("   Discharged: ").date(p.study)
    w.t("\nAttending: ").phi("NAME", p.doctor).t(", MD\n\nHospital course: ").patient_name(p, "title").t(" is a ").age(p.age)
    w.t(" admitted with ").clin(p.indication).t(". Chest film: ")
    _sentences(w, p.impression).t("\n\nDischarge diagnoses:\n").lines(p.conditions or ["Chest pain, unspecified"])
    w.t("Discharge medications:\n").lines(p.drugs or ["acetaminophen 500 mg oral as needed"])
    w.t(f"Follow up with Dr. {''}").phi("NAME", p.consultant.split()[-1]).t(" in 2 weeks. Call ").phone(p.phone)
    w.t(" with questions. Home: ").address(p).t("\nInsurance member ID: ").phi("INSURANCE", p.insurance_id).t("\n")


def referral_letter(w: DocWriter, p: PatientFacts) -> None:
    """A letter from one physician to another."""
    w.t("Dear Dr. ").phi("NAME", p.consultant).t(",\n\nThank you for seeing ").patient_name(p, "full").t(" (DOB ").date(p.birth)
    w.t(", MRN ").phi("MRN", p.mrn).t("), a ").age(p.age).t(f" {p.sex} from ").phi("CITY", p.city).t(f", {p.state}, referred for ")
    w.clin(p.indication).t(". Recent chest radiograph on ").date(p.study).t(" (accession ").phi("ACCESSION", p.accession).t(") showed: ")
    _sentences(w, p.findings[:3]).t("\nCurrent medications: ").clin(", ".join(p.drugs) or "none").t(".\n")
    w.t(f"Please contact the patient's {p.relation}, ").phi("NAME", p.relative).t(", at ").phone(p.relative_phone)
    w.t(" to schedule. Policy #: ").phi("INSURANCE", p.insurance_id).t(". Records can be faxed to ").phone(p.fax, "FAX")
    w.t(".\n\nSincerely,\n").phi("NAME", p.doctor).t(", MD\n")


def patient_message(w: DocWriter, p: PatientFacts) -> None:
    """A portal message from the patient."""
    w.t(w.rng.choice(("Hi Dr. ", "Hello Dr. ", "Dear Dr. "))).phi("NAME", p.doctor.split()[-1]).t(",\n")
    w.t("This is ").patient_name(p, w.rng.choice(("full", "given"))).t(", my birthday is ").date(p.birth).t(". I had the ")
    w.clin("chest x-ray").t(" on ").date(p.study).t(" and still have ").clin(p.indication.lower()).t(". Should I keep taking ")
    w.clin(p.drugs[0].split(" ")[0] if p.drugs else "tylenol").t("? My new number is ").phone(p.phone).t(" and my email is ")
    w.phi("EMAIL", p.email).t(". I moved to ").phi("STREET", p.street).t(" in ").phi("CITY", p.city).t(". My ").t(p.relation).t(" ")
    w.phi("NAME", p.relative.split()[0]).t(" can drive me. I saw the result at ").phi("URL", p.portal_url).t("\nThanks,\n")
    w.phi("NAME", p.given).t("\n")


def lab_note(w: DocWriter, p: PatientFacts) -> None:
    """A lab results note."""
    w.t("LAB RESULTS - ").patient_name(p, "caps").t(" - ").phi("MRN", p.mrn).t("\nCollected: ").date(p.study).t("  Encounter: ").phi("ENCOUNTER", p.encounter_no)
    w.t("\n")
    for lab in p.labs:
        w.t("  ").clin(f"{lab.name}: {lab.value} {lab.unit}").t("\n")
    w.t("Comment: ").age(p.age).t(" patient with ").clin(", ".join(p.conditions[:2]) or "no known conditions").t(". Results reviewed by ")
    w.phi("NAME", p.consultant).t(", MD, and phoned to the patient at ").phone(p.phone).t(". Medicare/insurance ID ")
    w.phi("INSURANCE", p.insurance_id).t(".\n")


def nursing_handoff(w: DocWriter, p: PatientFacts) -> None:
    """A shift handoff note (SBAR)."""
    w.t("NURSING HANDOFF ").date(p.study).t("\nS: ").patient_name(p, "full").t(", ").age(p.age).t(", bed 4, MRN ").phi("MRN", p.mrn)
    w.t(", admitted for ").clin(p.indication.lower()).t(".\nB: ").clin("; ".join(p.conditions[:3]) or "no significant history")
    w.t(". Meds: ").clin("; ".join(d.split(" oral")[0] for d in p.drugs[:3]) or "none").t(".\nA: ")
    _sentences(w, p.impression[:2]).t("\nR: Recheck vitals q4h. ").t(p.relation.capitalize()).t(" ").phi("NAME", p.relative)
    w.t(" at bedside, phone ").phone(p.relative_phone).t(". Lives at ").address(p).t(".\nHandoff from ").phi("NAME", p.nurse)
    w.t(", RN to ").phi("NAME", p.consultant.split()[0]).t(". Contact ").phi("EMAIL", p.email).t(" re: discharge.\n")


STYLES: dict[str, Callable[[DocWriter, PatientFacts], None]] = {
    "radiology_request": radiology_request,
    "radiology_report": radiology_report,
    "discharge_note": discharge_note,
    "referral_letter": referral_letter,
    "patient_message": patient_message,
    "lab_note": lab_note,
    "nursing_handoff": nursing_handoff,
}
