"""Map validated FHIR R4 resources (as dicts) to raw-tier rows (columns of :mod:`lakehouse.raw.schema`).

Values stay as FHIR writes them (ISO date/dateTime strings, floats); :func:`lakehouse.raw.tables.coerce_row`
types them. Codes are only put in a column whose name promises that code system: a SNOMED-coded
Synthea condition gets ``icd10_code`` null and keeps its text in ``description``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from lakehouse.raw.schema import split_for
from lakehouse.synth import profile as p

Row = dict[str, Any]
Ref = Callable[[Any], str | None]

_ICD10_SYSTEMS = {p.ICD10CM, "http://hl7.org/fhir/sid/icd-10"}
_SECTION = re.compile(rf"^({'|'.join(p.SECTION_HEADERS)}):[ \t]*", re.MULTILINE)


class FieldProblem(ValueError):
    """A resource lacks what the mapping needs; ``field`` is the FHIR element path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _coding(concept: dict[str, Any] | None, systems: set[str] | None = None) -> dict[str, Any] | None:
    for coding in (concept or {}).get("coding", []):
        if systems is None or coding.get("system") in systems:
            return coding
    return None


def _text(concept: dict[str, Any] | None) -> str | None:
    if not concept:
        return None
    coding = _coding(concept)
    return concept.get("text") or (coding or {}).get("display")


def _tag(codings: list[dict[str, Any]], system: str) -> str | None:
    return next((c.get("code") for c in codings if c.get("system") == system), None)


def _require_id(resource: dict[str, Any]) -> str:
    rid = resource.get("id")
    if not rid:
        raise FieldProblem(f"{resource['resourceType']}.id", "missing resource id (needed as the row key)")
    return str(rid)


def _is_mrn(identifier: dict[str, Any]) -> bool:
    coding = _coding(identifier.get("type"), {p.V2_0203})
    return coding is not None and coding.get("code") == "MR"


def patient_row(res: dict[str, Any]) -> Row:
    """``patients`` row; site/consent/sensitivity from meta tags (null when the source has none)."""
    pid = _require_id(res)
    mrn = next((i.get("value") for i in res.get("identifier", []) if _is_mrn(i)), None)
    names = res.get("name", [])
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    addr = (res.get("address") or [{}])[0]
    locality = " ".join(x for x in (addr.get("state"), addr.get("postalCode")) if x)
    address = ", ".join(x for x in (" ".join(addr.get("line", [])), addr.get("city"), locality) if x) or None
    phone = next((t.get("value") for t in res.get("telecom", []) if t.get("system") == "phone"), None)
    meta = res.get("meta", {})
    sensitivity = _tag(meta.get("security", []), p.SENSITIVITY_SYSTEM)
    if sensitivity is not None and not sensitivity.isdigit():
        raise FieldProblem("Patient.meta.security", f"sensitivity code {sensitivity!r} is not 0-3")
    return {
        "patient_id": pid, "mrn": mrn, "given_name": " ".join(name.get("given", [])) or None,
        "family_name": name.get("family"), "birth_date": res.get("birthDate"), "sex": res.get("gender"),
        "address": address, "phone": phone, "site": _tag(meta.get("tag", []), p.SITE_SYSTEM),
        "consent": _tag(meta.get("security", []), p.CONSENT_SYSTEM),
        "sensitivity": int(sensitivity) if sensitivity is not None else None,
    }


def encounter_row(res: dict[str, Any], ref: Ref, site: str | None) -> Row:
    """``encounters`` row; ``kind`` is the encounter class code (AMB, EMER, IMP, ...)."""
    period = res.get("period", {})
    reasons = res.get("reasonCode", [])
    return {
        "encounter_id": _require_id(res), "patient_id": ref(res.get("subject")), "kind": res.get("class", {}).get("code"),
        "start": period.get("start"), "end": period.get("end"), "reason": _text(reasons[0]) if reasons else None,
        "site": site,
    }


def observation_row(res: dict[str, Any], ref: Ref) -> Row:
    """``observations`` row; ``value`` only for quantities (coded/text results keep value null)."""
    quantity = res.get("valueQuantity", {})
    loinc = _coding(res.get("code"), {p.LOINC}) or _coding(res.get("code"))
    return {
        "observation_id": _require_id(res), "patient_id": ref(res.get("subject")), "encounter_id": ref(res.get("encounter")),
        "loinc_code": (loinc or {}).get("code"), "name": _text(res.get("code")), "value": quantity.get("value"),
        "unit": quantity.get("unit") or quantity.get("code"),
        "effective_at": res.get("effectiveDateTime") or res.get("effectivePeriod", {}).get("start") or res.get("issued"),
    }


def condition_row(res: dict[str, Any], ref: Ref) -> Row:
    """``conditions`` row; ICD-10-CM code when the source codes it so."""
    icd = _coding(res.get("code"), _ICD10_SYSTEMS)
    status = _coding(res.get("clinicalStatus"))
    return {
        "condition_id": _require_id(res), "patient_id": ref(res.get("subject")), "encounter_id": ref(res.get("encounter")),
        "icd10_code": (icd or {}).get("code"), "description": (icd or {}).get("display") or _text(res.get("code")),
        "onset": res.get("onsetDateTime") or res.get("onsetPeriod", {}).get("start"),
        "clinical_status": (status or {}).get("code"),
    }


def medication_row(res: dict[str, Any], ref: Ref, medications: dict[str, dict[str, Any]]) -> Row:
    """``medications`` row from a MedicationRequest (code inline or via a Medication in the bundle)."""
    concept = res.get("medicationCodeableConcept")
    if concept is None:
        target = ref(res.get("medicationReference"))
        concept = medications.get(target or "", {}).get("code")
    rxnorm = _coding(concept, {p.RXNORM})
    dosage = (res.get("dosageInstruction") or [{}])[0]
    dose_q = (dosage.get("doseAndRate") or [{}])[0].get("doseQuantity")
    dose = f"{dose_q['value']:g} {dose_q.get('unit', '')}".strip() if dose_q and "value" in dose_q else dosage.get("text")
    repeat = dosage.get("timing", {}).get("repeat", {})
    frequency = dosage.get("timing", {}).get("code", {}).get("text") or (
        f"{repeat['frequency']} per {repeat.get('period', 1)} {repeat.get('periodUnit', '')}".strip() if "frequency" in repeat else None)
    return {
        "medication_id": _require_id(res), "patient_id": ref(res.get("subject")), "encounter_id": ref(res.get("encounter")),
        "drug_name": _text(concept), "rxnorm_code": (rxnorm or {}).get("code"), "dose": dose,
        "route": _text(dosage.get("route")), "frequency": frequency, "status": res.get("status"),
        "authored_on": res.get("authoredOn"),
    }


def is_imaging_report(res: dict[str, Any]) -> bool:
    """Radiology reports become ``reports`` rows; lab panels (Synthea's DiagnosticReports) do not."""
    if any(i.get("system") == p.REPORT_ID_SYSTEM for i in res.get("identifier", [])):
        return True
    codes = {c.get("code") for cat in res.get("category", []) for c in cat.get("coding", [])}
    return bool(codes & {"RAD", "LP29684-5", "CR", "DX"})


def _presented_sections(res: dict[str, Any]) -> dict[str, str]:
    forms = [f for f in res.get("presentedForm", []) if f.get("data") and str(f.get("contentType", "")).startswith("text/")]
    if not forms:
        return {}
    try:
        text = base64.b64decode(forms[0]["data"], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise FieldProblem("DiagnosticReport.presentedForm.data", f"not base64 UTF-8 text ({exc})") from exc
    parts = _SECTION.split(text)
    return {parts[i].lower(): parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def report_row(res: dict[str, Any], ref: Ref, site: str | None) -> Row:
    """``reports`` row: project extension first, else the presentedForm's section headers."""
    identifiers = res.get("identifier", [])
    report_id = next((i.get("value") for i in identifiers if i.get("system") == p.REPORT_ID_SYSTEM), None) or _require_id(res)
    ext = next((e for e in res.get("extension", []) if e.get("url") == p.REPORT_EXTENSION), None)
    sections = _presented_sections(res) if ext is None else {}
    parts = (ext or {}).get("extension", [])
    single = {e["url"]: e.get("valueString", "") for e in parts if e.get("url") in ("indication", "comparison", "findings")}
    modality = _coding(next((c for c in res.get("category", []) if _coding(c, {p.DICOM_MODALITY})), None), {p.DICOM_MODALITY})
    effective = res.get("effectiveDateTime") or res.get("effectivePeriod", {}).get("start") or res.get("issued")
    return {
        "report_id": report_id, "patient_id": ref(res.get("subject")), "encounter_id": ref(res.get("encounter")),
        "study_date": effective[:10] if effective else None, "modality": (modality or {}).get("code", "CR"),
        "indication": single.get("indication", sections.get("indication", "")),
        "comparison": single.get("comparison", sections.get("comparison", "")),
        "findings": single.get("findings", sections.get("findings", "")),
        "impression": res.get("conclusion") or sections.get("impression", ""),
        "mesh": [e.get("valueString", "") for e in parts if e.get("url") == "mesh"],
        "image_ids": [e.get("valueString", "") for e in parts if e.get("url") == "image-id"],
        "split": split_for(report_id), "site": site,
    }
