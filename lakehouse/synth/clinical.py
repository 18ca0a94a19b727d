"""Clinical catalogs of the synthetic patients: comorbidities, their drugs and the labs they move.

Codes are real: ICD-10-CM 2026 billable codes (checked with ``simple_icd_10_cm``), RxNorm
ingredient RxCUIs, LOINC codes with UCUM units. The drug choices are weighted so that a share
of patients carries the textbook interacting pairs the interaction-check task must catch
(warfarin + amiodarone, simvastatin + clarithromycin, digoxin + amiodarone, lisinopril +
spironolactone): a cohort with no interaction would make that task untestable.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Drug:
    """One prescribable drug as it appears in a MedicationRequest."""

    name: str
    rxnorm: str
    dose: str
    route: str
    frequency: str


@dataclass(frozen=True)
class Lab:
    """One LOINC lab with its normal range (low, high) in ``unit``."""

    loinc: str
    name: str
    unit: str
    normal: tuple[float, float]
    category: str = "laboratory"


DRUGS: dict[str, Drug] = {
    d.name: d
    for d in (
        Drug("lisinopril", "29046", "10 mg", "oral", "once daily"),
        Drug("amlodipine", "17767", "5 mg", "oral", "once daily"),
        Drug("metformin", "6809", "500 mg", "oral", "twice daily"),
        Drug("simvastatin", "36567", "20 mg", "oral", "once daily at bedtime"),
        Drug("atorvastatin", "83367", "40 mg", "oral", "once daily"),
        Drug("furosemide", "4603", "40 mg", "oral", "once daily"),
        Drug("metoprolol", "6918", "25 mg", "oral", "once daily"),
        Drug("spironolactone", "9997", "25 mg", "oral", "once daily"),
        Drug("warfarin", "11289", "5 mg", "oral", "once daily"),
        Drug("apixaban", "1364430", "5 mg", "oral", "twice daily"),
        Drug("amiodarone", "703", "200 mg", "oral", "once daily"),
        Drug("digoxin", "3407", "0.125 mg", "oral", "once daily"),
        Drug("tiotropium", "69120", "18 mcg", "inhalation", "once daily"),
        Drug("albuterol", "435", "90 mcg", "inhalation", "every 4-6 hours as needed"),
        Drug("clarithromycin", "21212", "500 mg", "oral", "twice daily"),
        Drug("azithromycin", "18631", "500 mg", "oral", "once daily"),
        Drug("ceftriaxone", "2193", "1 g", "intravenous", "once daily"),
    )
}

# comorbidity key -> (ICD-10-CM code, description)
COMORBIDITIES: dict[str, tuple[str, str]] = {
    "hypertension": ("I10", "Essential (primary) hypertension"),
    "type2_diabetes": ("E11.9", "Type 2 diabetes mellitus without complications"),
    "hyperlipidemia": ("E78.5", "Hyperlipidemia, unspecified"),
    "ckd3": ("N18.30", "Chronic kidney disease, stage 3 unspecified"),
    "heart_failure": ("I50.9", "Heart failure, unspecified"),
    "atrial_fibrillation": ("I48.91", "Unspecified atrial fibrillation"),
    "copd": ("J44.9", "Chronic obstructive pulmonary disease, unspecified"),
}

LABS: dict[str, Lab] = {
    lab.loinc: lab
    for lab in (
        Lab("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", (0.6, 1.2)),
        Lab("33914-3", "Glomerular filtration rate/1.73 sq M.predicted [MDRD]", "mL/min/{1.73_m2}", (75, 110)),
        Lab("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", (3.6, 5.0)),
        Lab("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", (136, 144)),
        Lab("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", (75, 105)),
        Lab("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", (12.5, 16.0)),
        Lab("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", (4.5, 10.0)),
        Lab("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", (4.8, 5.6)),
        Lab("30934-4", "Natriuretic peptide B [Mass/volume] in Serum or Plasma", "pg/mL", (10, 90)),
        Lab("6301-6", "INR in Platelet poor plasma by Coagulation assay", "{INR}", (0.9, 1.1)),
        Lab("13457-7", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation", "mg/dL", (70, 129)),
        Lab("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", (95, 99), "vital-signs"),
    )
}

_ANTIBIOTIC_FINDINGS = {"pneumonia", "consolidation"}


def choose_comorbidities(rng: random.Random, age: int, positive: set[str], indication: str) -> list[str]:
    """Comorbidities for one patient: age-weighted, nudged by the X-ray's findings and indication."""
    older = max(0.0, min(1.0, (age - 35) / 50))
    cardiac = bool(positive & {"cardiomegaly", "edema", "pleural_effusion"})
    text = indication.lower()
    chosen: list[str] = []
    if rng.random() < 0.15 + 0.45 * older:
        chosen.append("hypertension")
    if rng.random() < 0.08 + 0.22 * older:
        chosen.append("type2_diabetes")
    if rng.random() < 0.15 + 0.35 * older:
        chosen.append("hyperlipidemia")
    if rng.random() < 0.03 + 0.1 * older + 0.1 * len(set(chosen) & {"hypertension", "type2_diabetes"}):
        chosen.append("ckd3")
    if rng.random() < 0.03 + 0.12 * older + (0.35 if cardiac else 0.0):
        chosen.append("heart_failure")
    if rng.random() < 0.03 + 0.12 * older + (0.2 if "heart_failure" in chosen else 0.0):
        chosen.append("atrial_fibrillation")
    if "copd" in text or "emphysema" in text or rng.random() < 0.04 + 0.08 * older:
        chosen.append("copd")
    return chosen


def needs_antibiotic(rng: random.Random, positive: set[str], indication: str) -> bool:
    """Pneumonia or consolidation on the film, or (some of the time) an infective-sounding indication."""
    infective = re.search(r"\b(fevers?|febrile|bronchitis|pneumonia|cough\w*|chills)\b", indication, re.IGNORECASE)
    # The Indiana source redacted many symptoms ("XXXX for one month"), so a base rate stands in for
    # the outpatient courses (bronchitis, sinusitis) a real medication list would show.
    chance = 1.0 if positive & _ANTIBIOTIC_FINDINGS else 0.6 if infective or "lung_opacity" in positive else 0.08
    return rng.random() < chance


def choose_drugs(rng: random.Random, comorbidities: list[str], positive: set[str], indication: str = "") -> list[Drug]:
    """Drugs for the comorbidities and the acute findings, without duplicates."""
    names: list[str] = []
    has = set(comorbidities)
    if "hypertension" in has:
        names.append("lisinopril" if rng.random() < 0.65 else "amlodipine")
    if "type2_diabetes" in has:
        names.append("metformin")
    if "hyperlipidemia" in has:
        names.append("simvastatin" if rng.random() < 0.6 else "atorvastatin")
    if "heart_failure" in has:
        names += ["furosemide", "metoprolol"]
        if rng.random() < 0.4:
            names.append("spironolactone")
    if "atrial_fibrillation" in has:
        names.append("warfarin" if rng.random() < 0.6 else "apixaban")
        if rng.random() < 0.5:
            names.append("amiodarone")
        if rng.random() < 0.3:
            names.append("digoxin")
    if "copd" in has:
        names += ["tiotropium", "albuterol"]
    if needs_antibiotic(rng, positive, indication):
        # Macrolide over beta-lactam more often with a statin on board: the pair the checker must flag.
        macrolide = 0.7 if "simvastatin" in names else 0.45
        roll = rng.random()
        names.append("clarithromycin" if roll < macrolide else "azithromycin" if roll < 0.85 else "ceftriaxone")
    return [DRUGS[n] for n in dict.fromkeys(names)]


def lab_values(rng: random.Random, comorbidities: list[str], drugs: list[Drug], positive: set[str]) -> dict[str, float]:
    """LOINC code -> value: normal ranges shifted by what the patient has."""
    has = set(comorbidities)
    drug_names = {d.name for d in drugs}
    infected = bool(drug_names & {"clarithromycin", "azithromycin", "ceftriaxone"})
    ranges = {code: lab.normal for code, lab in LABS.items()}
    wanted = ["2160-0", "33914-3", "2823-3", "2951-2", "2345-7", "718-7", "6690-2", "59408-5"]
    if "ckd3" in has:
        ranges["2160-0"], ranges["33914-3"], ranges["2823-3"] = (1.5, 2.6), (30, 59), (4.4, 5.6)
    if "type2_diabetes" in has:
        ranges["2345-7"], ranges["4548-4"] = (130, 230), (6.6, 9.8)
        wanted.append("4548-4")
    if "heart_failure" in has:
        ranges["30934-4"] = (350, 1800)
        wanted.append("30934-4")
    if "warfarin" in drug_names:
        ranges["6301-6"] = (1.8, 3.6)
        wanted.append("6301-6")
    if "hyperlipidemia" in has:
        ranges["13457-7"] = (60, 115) if drug_names & {"simvastatin", "atorvastatin"} else (130, 190)
        wanted.append("13457-7")
    if infected:
        ranges["6690-2"] = (11.5, 18.5)
    if infected or "copd" in has:
        ranges["59408-5"] = (87, 94)
    values: dict[str, float] = {}
    for code in wanted:
        low, high = ranges[code]
        digits = 0 if high >= 30 else 2 if high < 2 else 1
        values[code] = round(rng.uniform(low, high), digits)
    return values
