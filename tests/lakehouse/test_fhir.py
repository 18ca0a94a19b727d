from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lakehouse.ingest.fhir import BUNDLE_TABLES, BundleError, read_bundle, read_bundles
from lakehouse.ingest.indiana import read_indiana
from lakehouse.raw.schema import TABLES
from lakehouse.raw.tables import coerce_row
from lakehouse.synth.generate import generate_bundles


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fhir")
    generate_bundles(read_indiana(limit=12), out, seed=5, site="site-b")
    return out


def test_round_trip_fills_every_table(bundles: Path) -> None:
    reports = {r.report_id: r for r in read_indiana(limit=12)}
    ledger = json.loads((bundles / "_phi_ledger.json").read_text())
    mrns = {b["report_id"]: next(i["value"] for i in b["phi"] if i["type"] == "MRN") for b in ledger["bundles"]}
    results = list(read_bundles(bundles))
    assert len(results) == 12, "the ledger is not read as a bundle"
    totals: Counter[str] = Counter()
    for _, rows in results:
        assert not isinstance(rows, BundleError), rows
        for table in BUNDLE_TABLES:
            for row in rows[table]:
                assert tuple(row) == TABLES[table][1]
                coerce_row(table, row)  # every value fits its pinned column type
            totals[table] += len(rows[table])
        (report,) = rows["reports"]
        (patient,) = rows["patients"]
        source = reports[report["report_id"]]
        assert report["findings"] == source.findings or "Dr. " in report["findings"]
        assert report["mesh"] == source.mesh and report["image_ids"] == source.image_ids
        assert report["patient_id"] == patient["patient_id"] and report["modality"] == "CR"
        assert report["site"] == patient["site"] == "site-b" and patient["consent"] in ("research", "treatment-only")
        assert patient["mrn"] == mrns[report["report_id"]]
        assert {o["patient_id"] for o in rows["observations"]} == {patient["patient_id"]}
    assert all(totals[t] > 0 for t in BUNDLE_TABLES), totals


def _write(path: Path, doc: object) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_bad_bundles_are_reported_and_the_rest_ingest(bundles: Path, tmp_path: Path) -> None:
    good = sorted(bundles.glob("CXR*.json"))[:2]
    for path in good:
        (tmp_path / path.name).write_bytes(path.read_bytes())
    bundle = json.loads(good[0].read_text())
    _write(tmp_path / "a_bad_json.json", '{"resourceType": "Bundle", "entry": [')
    no_id = json.loads(json.dumps(bundle))
    del no_id["entry"][0]["resource"]["id"]
    _write(tmp_path / "b_no_patient_id.json", no_id)
    wrong_type = json.loads(json.dumps(bundle))
    wrong_type["entry"][0]["resource"]["gender"] = ["female"]
    _write(tmp_path / "c_wrong_type.json", wrong_type)
    _write(tmp_path / "d_not_a_bundle.json", bundle["entry"][0]["resource"])
    results = dict(read_bundles(tmp_path))
    errors = {p.name: r for p, r in results.items() if isinstance(r, BundleError)}
    assert set(errors) == {"a_bad_json.json", "b_no_patient_id.json", "c_wrong_type.json", "d_not_a_bundle.json"}
    assert errors["a_bad_json.json"].field == "json"
    assert errors["b_no_patient_id.json"].field == "entry[0].Patient.id"
    assert errors["c_wrong_type.json"].field == "entry[0].Patient.gender"
    assert errors["d_not_a_bundle.json"].field == "resourceType"
    assert "c_wrong_type.json" in str(errors["c_wrong_type.json"])
    assert sum(not isinstance(r, BundleError) for r in results.values()) == 2
    with pytest.raises(BundleError):
        read_bundle(tmp_path / "a_bad_json.json")


def test_synthea_style_bundle_with_unmapped_resources(tmp_path: Path) -> None:
    text = "INDICATION: cough\n\nFINDINGS: Left lower lobe opacity.\n\nIMPRESSION: Pneumonia."
    entries: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1950-02-03",
         "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                         "system": "https://github.com/synthetichealth/synthea", "value": "abc-123"}],
         "name": [{"family": "Doe", "given": ["Jon", "Q"]}]},
        {"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"code": "AMB"},
         "subject": {"reference": "Patient/p1"}, "period": {"start": "2020-01-01T10:00:00Z"}},
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
         "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes"}]}},
        {"resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": "Patient/p1"},
         "code": {"coding": [{"system": "http://loinc.org", "code": "72166-2", "display": "Tobacco smoking status"}]},
         "valueCodeableConcept": {"text": "Never smoked"}},
        {"resourceType": "Medication", "id": "m1",
         "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "6809", "display": "metformin"}]}},
        {"resourceType": "MedicationRequest", "id": "mr1", "status": "active", "intent": "order",
         "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": "Medication/m1"}},
        {"resourceType": "Claim", "id": "cl1"},
        {"resourceType": "DiagnosticReport", "id": "lab1", "status": "final", "code": {"text": "CBC panel"},
         "category": [{"coding": [{"code": "LAB"}]}]},
        {"resourceType": "DiagnosticReport", "id": "rad1", "status": "final", "code": {"text": "XR chest"},
         "category": [{"coding": [{"code": "RAD"}]}], "subject": {"reference": "Patient/p1"},
         "effectiveDateTime": "2020-01-01T10:30:00Z",
         "presentedForm": [{"contentType": "text/plain", "data": base64.b64encode(text.encode()).decode()}]},
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in entries]}
    ignored: Counter[str] = Counter()
    rows = read_bundle(_write(tmp_path / "synthea.json", bundle), ignored)
    assert ignored == {"Claim": 1, "DiagnosticReport(non-imaging)": 1}
    assert rows["patients"][0]["given_name"] == "Jon Q" and rows["patients"][0]["mrn"] == "abc-123"
    assert rows["conditions"][0]["icd10_code"] is None and rows["conditions"][0]["description"] == "Diabetes"
    assert rows["observations"][0]["value"] is None
    assert rows["medications"][0]["drug_name"] == "metformin" and rows["medications"][0]["rxnorm_code"] == "6809"
    (report,) = rows["reports"]
    assert (report["report_id"], report["findings"], report["impression"]) == ("rad1", "Left lower lobe opacity.", "Pneumonia.")
    assert report["study_date"] == "2020-01-01" and report["patient_id"] == "p1"


def test_input_limits_refuse_the_bundle_and_name_the_element(bundles: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A multi-MB string, an absurd name, too many entries or a huge file: the bundle is refused whole, named, never echoed."""
    import lakehouse.ingest.fhir as fhir

    source = json.loads(sorted(bundles.glob("CXR*.json"))[0].read_text())
    patient_at = next(i for i, e in enumerate(source["entry"]) if e["resource"]["resourceType"] == "Patient")
    report_at = next(i for i, e in enumerate(source["entry"]) if e["resource"]["resourceType"] == "DiagnosticReport")

    huge_name = json.loads(json.dumps(source))
    huge_name["entry"][patient_at]["resource"]["name"][0]["family"] = "Q" * 3_000_000  # 3 MB into a patient name
    long_name = json.loads(json.dumps(source))
    long_name["entry"][patient_at]["resource"]["name"][0]["given"] = ["Z" * (fhir.MAX_IDENTITY_CHARS + 1)]
    long_text = json.loads(json.dumps(source))
    long_text["entry"][report_at]["resource"]["conclusion"] = "Normal. " * 20_000  # 160,000 characters of report text
    _write(tmp_path / "a_huge_name.json", huge_name)
    _write(tmp_path / "b_long_given.json", long_name)
    _write(tmp_path / "c_long_text.json", long_text)
    with (tmp_path / "d_huge_file.json").open("wb") as f:  # sparse: the size is refused before a byte is read
        f.truncate(fhir.MAX_BUNDLE_BYTES + 1)
    errors = {p.name: r for p, r in read_bundles(tmp_path)}
    assert all(isinstance(r, BundleError) for r in errors.values()), errors

    assert errors["a_huge_name.json"].field == f"entry[{patient_at}].Patient.name[0].family"
    assert "3,000,000 characters, over the limit of 1,000" in str(errors["a_huge_name.json"]) and "QQQQ" not in str(errors["a_huge_name.json"])
    assert errors["b_long_given.json"].field == f"entry[{patient_at}].Patient.name[0].given[0]"
    assert errors["c_long_text.json"].field == f"entry[{report_at}].DiagnosticReport.conclusion"
    assert "over the limit of 100,000" in errors["c_long_text.json"].reason
    assert errors["d_huge_file.json"].field == "file" and "over the limit of 64 MiB" in errors["d_huge_file.json"].reason
    assert str(tmp_path / "a_huge_name.json") in str(errors["a_huge_name.json"])

    monkeypatch.setattr(fhir, "MAX_ENTRIES", 3)
    with pytest.raises(BundleError, match="entries, over the limit of 3"):
        read_bundle(sorted(bundles.glob("CXR*.json"))[0])
