"""Raw-tier table definitions: the columns every ingester writes and every query reads.

Each table is append-only. A record is identified by its key column; a changed record is a
new row with ``_version`` + 1, never an update. The current state of a table is the latest
version of each key (the ``<table>`` views in :mod:`lakehouse.query`); the full history stays
in the Delta table (``<table>_history`` views).

Provenance columns (every table): ``_source`` (file or generator that produced the row),
``_ingested_at`` (UTC timestamp), ``_content_hash`` (sha256 of the canonical JSON of the
business columns), ``_version`` (1, 2, ... per key), ``_batch_id`` (one ingest call).
"""

from __future__ import annotations

PROVENANCE_COLUMNS: tuple[str, ...] = ("_source", "_ingested_at", "_content_hash", "_version", "_batch_id")

# table -> (key column, business columns in order). Types are pinned in lakehouse.raw.tables.
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "patients": ("patient_id", ("patient_id", "mrn", "given_name", "family_name", "birth_date", "sex", "address", "phone", "site", "consent", "sensitivity")),
    "encounters": ("encounter_id", ("encounter_id", "patient_id", "kind", "start", "end", "reason", "site")),
    "observations": ("observation_id", ("observation_id", "patient_id", "encounter_id", "loinc_code", "name", "value", "unit", "effective_at")),
    "conditions": ("condition_id", ("condition_id", "patient_id", "encounter_id", "icd10_code", "description", "onset", "clinical_status")),
    "medications": ("medication_id", ("medication_id", "patient_id", "encounter_id", "drug_name", "rxnorm_code", "dose", "route", "frequency", "status", "authored_on")),
    # One row per radiology report = one "case" (case_id == report_id, e.g. "CXR10").
    "reports": ("report_id", ("report_id", "patient_id", "encounter_id", "study_date", "modality", "indication", "comparison", "findings", "impression", "mesh", "image_ids", "split", "site")),
    # Labels read off each report by the project's labeler (and later clinician corrections).
    "report_labels": ("label_id", ("label_id", "report_id", "finding", "state", "label_version", "labeler")),
    "images": ("image_id", ("image_id", "report_id", "patient_id", "blob_sha256", "media_type", "width", "height", "view")),
}


def split_for(report_id: str) -> str:
    """The evaluation split: a numeric id divisible by 5 is ``test`` (README, "Data and licences")."""
    digits = "".join(ch for ch in report_id if ch.isdigit())
    return "test" if digits and int(digits) % 5 == 0 else "train"
