"""The project's FHIR R4 profile: the URIs the generator writes and the bundle reader looks for.

How an Indiana report travels in a bundle (one ``DiagnosticReport`` per report):

==========================  =====================================================================
raw-tier ``reports`` column  FHIR element
==========================  =====================================================================
report_id                   ``identifier[system == REPORT_ID_SYSTEM].value`` (e.g. ``CXR10``)
patient_id, encounter_id    ``subject`` / ``encounter`` references
study_date                  ``effectiveDateTime`` (date part)
modality                    ``category`` DICOM modality code ``CR``
impression                  ``conclusion``
indication, comparison,     sub-extensions ``indication`` / ``comparison`` / ``findings`` (valueString),
findings, mesh, image_ids   ``mesh`` and ``image-id`` (one valueString each, repeated) of the complex
                            extension ``REPORT_EXTENSION``
(all of the above)          ``presentedForm[0]``: text/plain report with a PHI header (patient, MRN,
                            DOB, accession) and ``INDICATION:`` / ``COMPARISON:`` / ``FINDINGS:`` /
                            ``IMPRESSION:`` section headers; a reader falls back to these sections
                            when the extension is absent (bundles from other systems)
==========================  =====================================================================

Access tags live in ``Patient.meta.security`` (consent: ``CONSENT_SYSTEM`` code ``research`` or
``treatment-only``; sensitivity: ``SENSITIVITY_SYSTEM`` code ``0``-``3``) and ``Patient.meta.tag``
(site: ``SITE_SYSTEM``). The MRN is the identifier typed ``MR`` (HL7 v2-0203) with system
``MRN_SYSTEM_PREFIX + site``.
"""

from __future__ import annotations

BASE = "https://sagehealth.dev/fhir"
REPORT_ID_SYSTEM = f"{BASE}/sid/indiana-report-id"
ACCESSION_SYSTEM = f"{BASE}/sid/accession"
MRN_SYSTEM_PREFIX = f"{BASE}/sid/mrn/"
REPORT_EXTENSION = f"{BASE}/StructureDefinition/indiana-report"
CONSENT_SYSTEM = f"{BASE}/CodeSystem/consent"
SENSITIVITY_SYSTEM = f"{BASE}/CodeSystem/sensitivity"
SITE_SYSTEM = f"{BASE}/CodeSystem/site"

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
DICOM_MODALITY = "http://dicom.nema.org/resources/ontology/DCM"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

SECTION_HEADERS: tuple[str, ...] = ("INDICATION", "COMPARISON", "FINDINGS", "IMPRESSION")
