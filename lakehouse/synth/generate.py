"""Synthetic FHIR R4 patients, one per Indiana chest X-ray report, with a PHI ledger.

Each bundle (type ``collection``, ``urn:uuid:`` references) holds a Patient, the Encounter of
the X-ray, Conditions (ICD-10-CM) for the report's positive findings and for age-weighted
comorbidities, their MedicationRequests (RxNorm; some patients get known interacting pairs),
LOINC lab Observations and a DiagnosticReport carrying the report (mapping in
:mod:`lakehouse.synth.profile`). Everything derives from ``sha256(seed, site, report_id)``: the
same seed gives byte-identical files whatever the order or subset of reports (with the same
Faker version). The ledger ``_phi_ledger.json`` (leading underscore: bundle readers skip it)
lists every PHI string inserted, with its type.

Usage::

    from lakehouse.ingest.indiana import read_indiana
    from lakehouse.synth.generate import generate_bundles
    result = generate_bundles(read_indiana(limit=100), Path("out"), seed=7, site="site-a")
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import tempfile
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faker import Faker
from pydantic import BaseModel

from lakehouse.synth import resources as fhir
from lakehouse.synth.clinical import COMORBIDITIES, choose_comorbidities, choose_drugs, lab_values
from lakehouse.synth.conditions import finding_conditions, positive_findings_of
from lakehouse.synth.phi import (
    BundleLedger,
    FilledReport,
    PhiItem,
    PhiLedger,
    fill_report,
    format_date,
    sex_from_indication,
)

if TYPE_CHECKING:
    from lakehouse.ingest.indiana import IndianaReport

log = logging.getLogger(__name__)

LEDGER_NAME = "_phi_ledger.json"
# The shipped data plays two hospitals in one deployment, so site separation is exercised on real rows.
SYNTHETIC_SITES: tuple[str, ...] = ("site-a", "site-b")
_EXPLICIT_AGE = re.compile(r"\b(\d{1,3})[- ]year[- ]old", re.IGNORECASE)


class GenerationResult(BaseModel):
    """What a generation run wrote."""

    paths: list[Path]
    ledger_path: Path


def _atomic_write(path: Path, data: bytes) -> None:
    # Temp file in the same folder + rename: a reader never sees a half-written bundle.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _age_and_study_date(rng: random.Random, report: IndianaReport) -> tuple[int, date]:
    explicit = _EXPLICIT_AGE.search(report.indication)
    # ~6% are 90+: ages over 89 are PHI under HIPAA Safe Harbor and the redactor must see some.
    age = int(explicit.group(1)) if explicit else rng.randint(90, 99) if rng.random() < 0.06 else int(rng.triangular(19, 89, 62))
    latest = date.fromisoformat(report.article_date) if report.article_date else date(2013, 8, 1)
    return age, latest - timedelta(days=rng.randint(1, 3 * 365))


def _birth_date(rng: random.Random, age: int, on: date) -> date:
    anniversary = on.replace(year=on.year - age, day=28 if (on.month, on.day) == (2, 29) else on.day)
    return anniversary - timedelta(days=rng.randint(0, 364))  # birthday within the last year: exact age


def _report_text(header: list[tuple[str, str]], filled: FilledReport) -> str:
    lines = [f"{label}: {value}" for label, value in header]
    body = [("INDICATION", filled.indication), ("COMPARISON", filled.comparison), ("FINDINGS", filled.findings), ("IMPRESSION", filled.impression)]
    return "\n".join(lines) + "\n\n" + "\n\n".join(f"{name}: {text}" for name, text in body) + "\n"


def site_for(report_id: str, sites: tuple[str, ...] | list[str]) -> str:
    """The site a report's synthetic patient belongs to: a hash of the report id, stable under any subset or order."""
    if not sites:
        raise ValueError("at least one site is needed")
    return sites[int.from_bytes(hashlib.sha256(f"site|{report_id}".encode()).digest()[:4], "big") % len(sites)]


def build_bundle(report: IndianaReport, seed: int, site: str) -> tuple[dict[str, Any], BundleLedger]:
    """One patient's bundle and its PHI ledger entry; a pure function of (report, seed, site)."""
    key = int.from_bytes(hashlib.sha256(f"{seed}|{site}|{report.report_id}".encode()).digest()[:8], "big")
    rng, fake = random.Random(key), Faker("en_US")
    fake.seed_instance(key)
    counter = iter(range(10_000))

    def new_id(kind: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sagehealth:{key}:{kind}:{next(counter)}"))

    age, study = _age_and_study_date(rng, report)
    sex = sex_from_indication(report.indication) or rng.choice(("male", "female"))
    given = fake.first_name_male() if sex == "male" else fake.first_name_female()
    family, birth = fake.last_name(), _birth_date(rng, age, study)
    street, city, state, postal = fake.street_address(), fake.city(), fake.state_abbr(), fake.zipcode()
    phone = fake.numerify("(%##) %##-####")
    mrn, accession = f"M{rng.randrange(10**8):08d}", f"ACC{rng.randrange(10**9):09d}"
    doctor = f"{fake.first_name()} {fake.last_name()}"
    start = datetime.combine(study, time(rng.randint(7, 19), rng.choice((0, 15, 30, 45))), UTC)
    filled, text_phi = fill_report(rng, fake, age, study, FilledReport(
        indication=report.indication, comparison=report.comparison, findings=report.findings, impression=report.impression))

    pid, eid, rid = new_id("Patient"), new_id("Encounter"), new_id("DiagnosticReport")
    consent = "research" if rng.random() < 0.75 else "treatment-only"
    sensitivity = rng.choices((0, 1, 2, 3), weights=(50, 30, 15, 5))[0]
    kind = rng.choices(("AMB", "EMER", "IMP"), weights=(55, 35, 10))[0]
    entries: list[dict[str, Any]] = [
        fhir.patient(pid, mrn=mrn, given=given, family=family, sex=sex, birth=birth, street=street, city=city,
                     state=state, postal=postal, phone=phone, site=site, consent=consent, sensitivity=sensitivity),
        fhir.encounter(eid, pid, kind=kind, start=start, end=start + timedelta(minutes=rng.randint(30, 240)),
                       reason=filled.indication or "Chest radiography"),
    ]
    positive = positive_findings_of(report.findings, report.impression)
    for code, display in finding_conditions(positive):
        entries.append(fhir.condition(new_id("Condition"), pid, eid, code=code, display=display, onset=study, category="encounter-diagnosis"))
    comorbid = choose_comorbidities(rng, age, positive, report.indication)
    for name in comorbid:
        code, display = COMORBIDITIES[name]
        onset = study - timedelta(days=rng.randint(180, 15 * 365))
        entries.append(fhir.condition(new_id("Condition"), pid, eid, code=code, display=display, onset=onset, category="problem-list-item"))
    drugs = choose_drugs(rng, comorbid, positive, report.indication)
    for drug in drugs:
        entries.append(fhir.medication_request(new_id("MedicationRequest"), pid, eid, drug=drug, authored=start))
    lab_time = start + timedelta(minutes=20)
    for loinc, value in lab_values(rng, comorbid, drugs, positive).items():
        entries.append(fhir.observation(new_id("Observation"), pid, eid, loinc=loinc, value=value, when=lab_time))

    dob_text, exam_text = format_date(rng, birth), format_date(rng, study)
    address = f"{street}, {city}, {state} {postal}"
    header = [("PATIENT", f"{family}, {given}"), ("MRN", mrn), ("DOB", dob_text), ("SEX", sex.capitalize()),
              ("ADDRESS", address), ("PHONE", phone), ("ACCESSION", accession), ("EXAM DATE", exam_text),
              ("ORDERING PHYSICIAN", f"Dr. {doctor}")]
    sections = filled.model_dump()
    entries.append(fhir.diagnostic_report(rid, pid, eid, report_id=report.report_id, accession=accession, when=start,
                                          sections=sections, mesh=report.mesh, image_ids=report.image_ids,
                                          text=_report_text(header, filled)))
    phi = [
        PhiItem(type="NAME", value=given, where="Patient.name.given"),
        PhiItem(type="NAME", value=family, where="Patient.name.family"),
        PhiItem(type="MRN", value=mrn, where="Patient.identifier"),
        PhiItem(type="DATE", value=birth.isoformat(), where="Patient.birthDate"),
        PhiItem(type="ADDRESS", value=street, where="Patient.address.line"),
        PhiItem(type="ADDRESS", value=city, where="Patient.address.city"),
        PhiItem(type="ADDRESS", value=postal, where="Patient.address.postalCode"),
        PhiItem(type="PHONE", value=phone, where="Patient.telecom"),
        PhiItem(type="ACCESSION", value=accession, where="DiagnosticReport.identifier"),
        PhiItem(type="DATE", value=dob_text, where="report.header"),
        PhiItem(type="DATE", value=exam_text, where="report.header"),
        PhiItem(type="NAME", value=doctor, where="report.header"),
        *text_phi,
    ]
    bundle = {
        "resourceType": "Bundle",
        "id": new_id("Bundle"),
        "type": "collection",
        "timestamp": start.isoformat(),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in entries],
    }
    ledger = BundleLedger(report_id=report.report_id, patient_id=pid, bundle=f"{report.report_id}.json", site=site, phi=phi)
    return bundle, ledger


def generate_bundles(reports: Iterable[IndianaReport], out_dir: Path, seed: int, site: str, progress: bool = False, *, sites: tuple[str, ...] | list[str] | None = None) -> GenerationResult:
    """Write one synthetic patient bundle per report and the PHI ledger into ``out_dir``.

    Args:
        reports: Indiana reports (:func:`lakehouse.ingest.indiana.read_indiana`).
        out_dir: Created if missing; bundles are ``<report_id>.json``.
        seed: Same seed (and Faker version) -> byte-identical bundles.
        site: Site tag written on every patient (access control filters on it).
        progress: Show a progress bar (CLI use).
        sites: Spread patients over these sites instead (:func:`site_for`); ``site`` then only names the ledger.
    """
    from tqdm import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    ledger = PhiLedger(seed=seed, site=site)
    paths: list[Path] = []
    for report in tqdm(reports, desc="synthetic patients", unit="bundle", disable=not progress):
        bundle, entry = build_bundle(report, seed, site_for(report.report_id, sites) if sites else site)
        path = out_dir / entry.bundle
        _atomic_write(path, (json.dumps(bundle, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
        ledger.bundles.append(entry)
        paths.append(path)
    ledger_path = out_dir / LEDGER_NAME
    _atomic_write(ledger_path, (ledger.model_dump_json(indent=1) + "\n").encode("utf-8"))
    log.info("wrote %d synthetic bundles to %s", len(paths), out_dir)
    return GenerationResult(paths=paths, ledger_path=ledger_path)
