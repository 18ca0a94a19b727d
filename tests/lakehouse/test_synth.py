from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path

import pytest

from lakehouse.findings import positive_findings
from lakehouse.ingest.indiana import IndianaReport, read_indiana
from lakehouse.knowledge.icd10 import icd10_for_finding
from lakehouse.labeler import label_report
from lakehouse.synth.generate import LEDGER_NAME, generate_bundles

DOCTOR_REPORT = IndianaReport(
    report_id="CXR90001",
    indication="XXXX-year-old female with cough and fever.",
    comparison="Two-view chest radiograph dated XXXX, XXXX.",
    findings="Right lower lobe airspace consolidation consistent with pneumonia. Dr. XXXX XXXX was notified of the findings.",
    impression="Right lower lobe pneumonia. Discussed with Dr. XXXX.",
    mesh=["Pneumonia/lung/lower lobe/right"],
    image_ids=["CXR90001_IM-0001-1001", "CXR90001_IM-0001-2001"],
    article_date="2013-08-01",
    source="test",
)


@pytest.fixture(scope="module")
def reports() -> list[IndianaReport]:
    return [*read_indiana(limit=40), DOCTOR_REPORT]


@pytest.fixture(scope="module")
def generated(reports: list[IndianaReport], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundles")
    generate_bundles(reports, out, seed=11, site="site-a")
    return out


def _resources(path: Path, kind: str) -> list[dict]:
    bundle = json.loads(path.read_text())
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _report_text(path: Path) -> str:
    report = _resources(path, "DiagnosticReport")[0]
    return base64.b64decode(report["presentedForm"][0]["data"]).decode()


def test_same_seed_gives_byte_identical_files(reports: list[IndianaReport], generated: Path, tmp_path: Path) -> None:
    again = generate_bundles(reports, tmp_path / "again", seed=11, site="site-a")
    for path in [*again.paths, again.ledger_path]:
        assert path.read_bytes() == (generated / path.name).read_bytes(), path.name
    # A bundle depends only on (seed, site, report): a subset in another order gives the same file.
    subset = generate_bundles([reports[7], reports[3]], tmp_path / "subset", seed=11, site="site-a")
    assert subset.paths[0].read_bytes() == (generated / f"{reports[7].report_id}.json").read_bytes()
    other = generate_bundles(reports[:3], tmp_path / "other", seed=12, site="site-a")
    assert other.paths[0].read_bytes() != (generated / other.paths[0].name).read_bytes()
    assert not list((tmp_path / "again").glob("*.tmp")), "atomic writes leave no temp files"


def test_ledger_lists_every_phi_string_inserted(reports: list[IndianaReport], generated: Path) -> None:
    ledger = json.loads((generated / LEDGER_NAME).read_text())
    assert [b["report_id"] for b in ledger["bundles"]] == [r.report_id for r in reports]
    for entry in ledger["bundles"]:
        path = generated / entry["bundle"]
        raw, text = path.read_text(), _report_text(path)
        patient = _resources(path, "Patient")[0]
        values = {(i["type"], i["value"]) for i in entry["phi"]}
        for item in entry["phi"]:
            assert item["value"] in raw or item["value"] in text, item
        assert ("MRN", patient["identifier"][0]["value"]) in values
        assert ("PHONE", patient["telecom"][0]["value"]) in values
        assert ("NAME", patient["name"][0]["family"]) in values and ("DATE", patient["birthDate"]) in values
        assert "XXXX-year-old" not in text and "Dr. XXXX" not in text
    doctor = next(b for b in ledger["bundles"] if b["report_id"] == DOCTOR_REPORT.report_id)
    kinds = [(i["type"], i["where"]) for i in doctor["phi"]]
    assert ("AGE", "report.indication") in kinds and ("DATE", "report.comparison") in kinds
    assert kinds.count(("NAME", "report.findings")) == 1 and kinds.count(("NAME", "report.impression")) == 1


def test_patient_matches_indication_age_and_sex(reports: list[IndianaReport], generated: Path) -> None:
    checked = 0
    for report in reports:
        if "year-old" not in report.indication:
            continue
        path = generated / f"{report.report_id}.json"
        patient = _resources(path, "Patient")[0]
        dr = _resources(path, "DiagnosticReport")[0]
        indication = next(e["valueString"] for e in dr["extension"][0]["extension"] if e["url"] == "indication")
        age = int(indication.split("-year-old")[0].split()[-1])
        born, seen = date.fromisoformat(patient["birthDate"]), date.fromisoformat(dr["effectiveDateTime"][:10])
        assert seen.year - born.year - ((seen.month, seen.day) < (born.month, born.day)) == age
        if " female" in report.indication:
            assert patient["gender"] == "female"
        elif " male" in report.indication:
            assert patient["gender"] == "male"
        checked += 1
    assert checked >= 10


def test_conditions_follow_the_labeler(reports: list[IndianaReport], generated: Path) -> None:
    for report in reports:
        path = generated / f"{report.report_id}.json"
        acute = {c["code"]["coding"][0]["code"] for c in _resources(path, "Condition")
                 if c["category"][0]["coding"][0]["code"] == "encounter-diagnosis"}
        positive = positive_findings(label_report(report.findings, report.impression))
        assert acute == {icd10_for_finding(f)[0][0] for f in positive if icd10_for_finding(f)}, report.report_id
    pneumonia = generated / f"{DOCTOR_REPORT.report_id}.json"
    codes = {c["code"]["coding"][0]["code"] for c in _resources(pneumonia, "Condition")}
    assert "J18.9" in codes
    drugs = {m["medicationCodeableConcept"]["text"] for m in _resources(pneumonia, "MedicationRequest")}
    assert drugs & {"clarithromycin", "azithromycin", "ceftriaxone"}


def test_labs_and_drugs_are_coded(generated: Path) -> None:
    for path in sorted(generated.glob("CXR*.json"))[:10]:
        for obs in _resources(path, "Observation"):
            assert obs["code"]["coding"][0]["system"] == "http://loinc.org"
            assert obs["valueQuantity"]["unit"] and isinstance(obs["valueQuantity"]["value"], float | int)
        for med in _resources(path, "MedicationRequest"):
            assert med["medicationCodeableConcept"]["coding"][0]["code"].isdigit()


def test_cohort_carries_known_interacting_pairs(tmp_path: Path) -> None:
    result = generate_bundles(read_indiana(limit=150), tmp_path, seed=7, site="site-a")
    pairs = {("warfarin", "amiodarone"), ("simvastatin", "clarithromycin"), ("digoxin", "amiodarone")}
    found = set()
    for path in result.paths:
        drugs = {m["medicationCodeableConcept"]["text"] for m in _resources(path, "MedicationRequest")}
        found |= {p for p in pairs if set(p) <= drugs}
    assert len(found) >= 2, found
