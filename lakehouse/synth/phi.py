"""Fake PHI for the synthetic bundles, and the ledger that records every PHI string inserted.

The Indiana reports were de-identified by replacing PHI (and some innocent words) with ``XXXX``.
Only the placeholders whose role is unambiguous are filled: the age in "XXXX-year-old", dates in
the comparison section ("dated XXXX", "XXXX, XXXX") and physician names ("Dr. XXXX XXXX").
Every other ``XXXX`` stays as in the source, as do all other words. The ledger is the ground
truth the PHI redactor is measured against (recall per PHI type).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Literal

from faker import Faker
from pydantic import BaseModel, Field

PhiType = Literal["NAME", "MRN", "DATE", "ADDRESS", "PHONE", "AGE", "ACCESSION"]

_AGE = re.compile(r"XXXX(?=[- ]year[- ]old)", re.IGNORECASE)
_DOCTOR = re.compile(r"\bDr\.? XXXX(?:[- ]+XXXX)?")
# Comparison dates: "dated XXXX", "from XXXX, XXXX", a field that is only "XXXX, XXXX.", a trailing date.
_COMPARISON_DATE = re.compile(r"(?:(?<=dated )|(?<=from )|(?<=on )|^)XXXX(?:, XXXX)?(?![-\w])|(?<![-\w])XXXX(?:, XXXX)?(?=\.*\s*$)")


class PhiItem(BaseModel):
    """One PHI string the generator put into a bundle."""

    type: PhiType
    value: str = Field(description="The exact string as written (what a redactor must find).")
    where: str = Field(description="FHIR element or report section holding it, e.g. 'Patient.name', 'report.findings'.")


class BundleLedger(BaseModel):
    """The PHI of one bundle."""

    report_id: str
    patient_id: str
    bundle: str = Field(description="File name of the bundle inside the output folder.")
    site: str | None = Field(None, description="Site tag of the patient (ledgers of multi-site runs).")
    phi: list[PhiItem]


class PhiLedger(BaseModel):
    """Every PHI string of one generation run (written next to the bundles)."""

    seed: int
    site: str
    bundles: list[BundleLedger] = Field(default_factory=list)


class FilledReport(BaseModel):
    """Report sections with their PHI placeholders filled."""

    indication: str
    comparison: str
    findings: str
    impression: str


def format_date(rng: random.Random, day: date) -> str:
    """A date as clinicians write it, in one of the common US forms."""
    style = rng.choice(("%B {d}, %Y", "%m/%d/%Y", "%Y-%m-%d", "%b {d}, %Y"))
    return day.strftime(style).replace("{d}", str(day.day))


def fill_report(
    rng: random.Random, fake: Faker, age: int, study_date: date, sections: FilledReport
) -> tuple[FilledReport, list[PhiItem]]:
    """Fill the unambiguous ``XXXX`` placeholders of a report with fake PHI.

    Args:
        rng: Seeded generator (deterministic output).
        fake: Seeded Faker for physician names.
        age: The patient's age at the study (written into "XXXX-year-old").
        study_date: Prior studies in the comparison are dated before it.
        sections: The report as in the source.

    Returns:
        The filled sections and one ledger item per inserted string.
    """
    items: list[PhiItem] = []

    def age_sub(_: re.Match[str]) -> str:
        items.append(PhiItem(type="AGE", value=str(age), where="report.indication"))
        return str(age)

    def date_sub(_: re.Match[str]) -> str:
        text = format_date(rng, study_date - timedelta(days=rng.randint(20, 1500)))
        items.append(PhiItem(type="DATE", value=text, where="report.comparison"))
        return text

    def doctor_sub(section: str) -> Callable[[re.Match[str]], str]:
        def sub(_: re.Match[str]) -> str:
            name = f"{fake.first_name()} {fake.last_name()}"
            items.append(PhiItem(type="NAME", value=name, where=f"report.{section}"))
            return f"Dr. {name}"

        return sub

    indication = _AGE.sub(age_sub, sections.indication)
    comparison = _COMPARISON_DATE.sub(date_sub, sections.comparison)
    findings = _DOCTOR.sub(doctor_sub("findings"), sections.findings)
    impression = _DOCTOR.sub(doctor_sub("impression"), sections.impression)
    return FilledReport(indication=indication, comparison=comparison, findings=findings, impression=impression), items


def sex_from_indication(indication: str) -> str | None:
    """``female``/``male`` when the indication says so (checked in that order: 'female' contains 'male')."""
    lowered = indication.lower()
    if re.search(r"\b(female|woman|lady|girl)\b", lowered):
        return "female"
    if re.search(r"\b(male|man|gentleman|boy)\b", lowered):
        return "male"
    return None
