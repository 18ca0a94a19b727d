"""FHIR R4 resource builders for the synthetic bundles (plain dicts, validated by the reader).

References use ``urn:uuid:`` full URLs as Synthea does, so the bundle is self-contained and
valid both as a ``collection`` and, with request entries added, as a ``transaction``.
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Any

from lakehouse.synth import profile as p
from lakehouse.synth.clinical import LABS, Drug

Resource = dict[str, Any]


def ref(resource_id: str) -> dict[str, str]:
    """Reference to a resource of the same bundle."""
    return {"reference": f"urn:uuid:{resource_id}"}


def codeable(system: str, code: str, display: str) -> dict[str, Any]:
    """CodeableConcept with one coding and the display as text."""
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def patient(
    pid: str, *, mrn: str, given: str, family: str, sex: str, birth: date, street: str, city: str,
    state: str, postal: str, phone: str, site: str, consent: str, sensitivity: int,
) -> Resource:
    """Patient with MRN, access tags (consent, sensitivity in meta.security; site in meta.tag)."""
    return {
        "resourceType": "Patient",
        "id": pid,
        "meta": {
            "security": [
                {"system": p.CONSENT_SYSTEM, "code": consent},
                {"system": p.SENSITIVITY_SYSTEM, "code": str(sensitivity)},
            ],
            "tag": [{"system": p.SITE_SYSTEM, "code": site}],
        },
        "identifier": [{
            "use": "usual",
            "type": codeable(p.V2_0203, "MR", "Medical record number"),
            "system": p.MRN_SYSTEM_PREFIX + site,
            "value": mrn,
        }],
        "name": [{"use": "official", "family": family, "given": [given]}],
        "telecom": [{"system": "phone", "value": phone, "use": "home"}],
        "gender": sex,
        "birthDate": birth.isoformat(),
        "address": [{"use": "home", "line": [street], "city": city, "state": state, "postalCode": postal, "country": "US"}],
    }


def encounter(eid: str, pid: str, *, kind: str, start: datetime, end: datetime, reason: str) -> Resource:
    """The visit in which the chest X-ray was taken (class AMB, EMER or IMP)."""
    displays = {"AMB": "ambulatory", "EMER": "emergency", "IMP": "inpatient encounter"}
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"system": p.ACT_CODE, "code": kind, "display": displays[kind]},
        "type": [{"text": "Chest radiography"}],
        "subject": ref(pid),
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "reasonCode": [{"text": reason}],
    }


def condition(cid: str, pid: str, eid: str, *, code: str, display: str, onset: date, category: str) -> Resource:
    """Active, confirmed condition coded in ICD-10-CM."""
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": codeable(p.CONDITION_CLINICAL, "active", "Active"),
        "verificationStatus": codeable("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"),
        "category": [codeable("http://terminology.hl7.org/CodeSystem/condition-category", category, category)],
        "code": codeable(p.ICD10CM, code, display),
        "subject": ref(pid),
        "encounter": ref(eid),
        "onsetDateTime": onset.isoformat(),
    }


def medication_request(mid: str, pid: str, eid: str, *, drug: Drug, authored: datetime) -> Resource:
    """Active outpatient order of one RxNorm-coded drug."""
    amount, unit = drug.dose.split(" ", 1)
    return {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": codeable(p.RXNORM, drug.rxnorm, drug.name),
        "subject": ref(pid),
        "encounter": ref(eid),
        "authoredOn": authored.isoformat(),
        "dosageInstruction": [{
            "text": f"{drug.dose} {drug.route} {drug.frequency}",
            "timing": {"code": {"text": drug.frequency}},
            "route": {"text": drug.route},
            "doseAndRate": [{"doseQuantity": {"value": float(amount), "unit": unit, "system": p.UCUM, "code": unit}}],
        }],
    }


def observation(oid: str, pid: str, eid: str, *, loinc: str, value: float, when: datetime) -> Resource:
    """A LOINC-coded lab (or pulse oximetry) result with a UCUM quantity."""
    lab = LABS[loinc]
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [codeable(p.OBS_CATEGORY, lab.category, lab.category)],
        "code": codeable(p.LOINC, lab.loinc, lab.name),
        "subject": ref(pid),
        "encounter": ref(eid),
        "effectiveDateTime": when.isoformat(),
        "valueQuantity": {"value": value, "unit": lab.unit, "system": p.UCUM, "code": lab.unit},
    }


def diagnostic_report(
    rid: str, pid: str, eid: str, *, report_id: str, accession: str, when: datetime, sections: dict[str, str],
    mesh: list[str], image_ids: list[str], text: str,
) -> Resource:
    """The Indiana report as a DiagnosticReport (mapping documented in :mod:`lakehouse.synth.profile`)."""
    parts: list[dict[str, str]] = [
        {"url": name, "valueString": sections[name]} for name in ("indication", "comparison", "findings") if sections[name]
    ]
    parts += [{"url": "mesh", "valueString": m} for m in mesh]
    parts += [{"url": "image-id", "valueString": i} for i in image_ids]
    resource: Resource = {
        "resourceType": "DiagnosticReport",
        "id": rid,
        "identifier": [
            {"system": p.REPORT_ID_SYSTEM, "value": report_id},
            {"type": codeable(p.V2_0203, "ACSN", "Accession ID"), "system": p.ACCESSION_SYSTEM, "value": accession},
        ],
        "status": "final",
        "category": [
            codeable("http://terminology.hl7.org/CodeSystem/v2-0074", "RAD", "Radiology"),
            codeable(p.DICOM_MODALITY, "CR", "Computed Radiography"),
        ],
        "code": codeable(p.LOINC, "36643-5", "XR Chest 2 Views"),
        "subject": ref(pid),
        "encounter": ref(eid),
        "effectiveDateTime": when.isoformat(),
        "issued": when.isoformat(),
        "presentedForm": [{
            "contentType": "text/plain; charset=utf-8",
            "title": "Radiology report",
            "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
        }],
    }
    if parts:
        resource["extension"] = [{"url": p.REPORT_EXTENSION, "extension": parts}]
    if sections["impression"]:
        resource["conclusion"] = sections["impression"]
    return resource
