"""Read FHIR R4 bundles (ours or Synthea-style) into raw-tier rows, one bundle at a time.

Validation uses ``fhir.resources``' R4B models (R4B is the R4-compatible release in
``fhir.resources`` 8.x, whose top-level package is R5): every resource we map is validated
before it is read, so a wrong type ("birthDate": 123) or a missing required element names the
file and the element. Resources we do not map (Claim, Immunization, Practitioner...) are
counted and skipped without validation, so a real bundle with extra content still ingests.
One bad bundle never stops a folder: :func:`read_bundles` yields the error as a value.

Usage::

    from lakehouse.ingest.fhir import read_bundles, BundleError
    for path, rows in read_bundles(Path("bundles")):
        if isinstance(rows, BundleError):
            print(rows)          # names the file and field
        else:
            rows["patients"]     # list of dicts with the columns of lakehouse.raw.schema
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.errors import SageError
from lakehouse.ingest import fhir_rows as rows
from lakehouse.raw.schema import TABLES

log = logging.getLogger(__name__)

BundleRows = dict[str, list[dict[str, Any]]]
"""Table name -> rows with exactly the business columns of that raw-tier table."""

BUNDLE_TABLES: tuple[str, ...] = ("patients", "encounters", "observations", "conditions", "medications", "reports")
_MAPPED = ("Patient", "Encounter", "Observation", "Condition", "MedicationRequest", "Medication", "DiagnosticReport")

# Input limits (docs/data.md#input-limits). A bundle over any of them is refused whole, with the
# file and the element named and the value never echoed; the other bundles are ingested.
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
"""Largest bundle file read (checked before reading; Synthea's longest patient histories stay below it)."""
MAX_ENTRIES = 50_000
"""Most entries in one bundle."""
MAX_STRING_CHARS = 100_000
"""Longest string anywhere in a mapped resource (a report's text, a narrative); base64 ``data`` included."""
MAX_IDENTITY_CHARS = 1_000
"""Longest string inside a resource's ``name``, ``telecom``, ``identifier`` or ``address``: no real name or number comes near it."""
_IDENTITY_KEYS = frozenset({"name", "telecom", "identifier", "address"})


class BundleError(SageError):
    """A bundle that cannot be ingested; names the file and the field (also yielded as a value)."""

    def __init__(self, path: Path, field: str, message: str) -> None:
        super().__init__(f"{path}: {field}: {message}", hint="fix or remove this bundle; the other bundles are ingested")
        self.path = path
        self.field = field
        self.reason = message


def _validate(path: Path, index: int, resource: dict[str, Any]) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    kind = resource["resourceType"]
    try:
        get_fhir_model_class(kind).model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise BundleError(path, f"entry[{index}].{kind}.{loc}", first["msg"]) from exc


def _oversized(value: Any, where: str, limit: int) -> tuple[str, int, int] | None:
    """The first string under ``value`` longer than its limit: (element path, length, limit)."""
    if isinstance(value, str):
        return (where, len(value), limit) if len(value) > limit else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        child = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}"
        found = _oversized(item, child, min(limit, MAX_IDENTITY_CHARS) if key in _IDENTITY_KEYS else limit)
        if found is not None:
            return found
    return None


def _check_sizes(path: Path, index: int, resource: dict[str, Any]) -> None:
    found = _oversized(resource, f"entry[{index}].{resource['resourceType']}", MAX_STRING_CHARS)
    if found is not None:
        where, length, limit = found
        raise BundleError(path, where, f"string of {length:,} characters, over the limit of {limit:,}")


def _entries(path: Path) -> list[dict[str, Any]]:
    size = path.stat().st_size
    if size > MAX_BUNDLE_BYTES:
        raise BundleError(path, "file", f"bundle of {size / 2**20:,.1f} MiB, over the limit of {MAX_BUNDLE_BYTES // 2**20} MiB; split it into smaller bundles")
    try:
        doc = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise BundleError(path, "json", f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    except UnicodeDecodeError as exc:
        raise BundleError(path, "json", f"not UTF-8 text ({exc.reason})") from exc
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        found = doc.get("resourceType") if isinstance(doc, dict) else type(doc).__name__
        raise BundleError(path, "resourceType", f"expected a Bundle, found {found!r}")
    entries = doc.get("entry", [])
    if not isinstance(entries, list):
        raise BundleError(path, "entry", "must be a list of entries")
    if len(entries) > MAX_ENTRIES:
        raise BundleError(path, "entry", f"{len(entries):,} entries, over the limit of {MAX_ENTRIES:,}; split the bundle")
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise BundleError(path, f"entry[{i}].resource", "missing resource or its resourceType")
    return entries


def _resolver(entries: list[dict[str, Any]]) -> rows.Ref:
    by_url = {e["fullUrl"]: e["resource"].get("id") for e in entries if e.get("fullUrl")}

    def ref(reference: Any) -> str | None:
        target = reference.get("reference") if isinstance(reference, dict) else None
        if not target:
            return None
        if target in by_url:
            return by_url[target]
        return target.rsplit("/", 1)[-1].removeprefix("urn:uuid:")

    return ref


def read_bundle(path: Path, ignored: Counter[str] | None = None) -> BundleRows:
    """Rows of every mapped resource of one bundle file.

    Args:
        path: A FHIR R4 Bundle in JSON (``collection``, ``transaction``, ``batch``...).
        ignored: If given, counts the resource types skipped because no table holds them.

    Raises:
        BundleError: malformed JSON, not a Bundle, over an input limit (:data:`MAX_BUNDLE_BYTES`,
            :data:`MAX_ENTRIES`, :data:`MAX_STRING_CHARS`, :data:`MAX_IDENTITY_CHARS`), a mapped
            resource failing R4 validation or lacking an element the mapping needs (e.g.
            ``Patient.id``); names file and field.
    """
    entries = _entries(path)
    for i, entry in enumerate(entries):
        if entry["resource"]["resourceType"] in _MAPPED:
            _check_sizes(path, i, entry["resource"])
            _validate(path, i, entry["resource"])
    ref = _resolver(entries)
    out: BundleRows = {table: [] for table in BUNDLE_TABLES}
    skipped: Counter[str] = Counter()
    resources = [(i, e["resource"]) for i, e in enumerate(entries)]
    medications = {r["id"]: r for _, r in resources if r["resourceType"] == "Medication" and r.get("id")}
    sites: dict[str, str | None] = {}
    for i, res in sorted(resources, key=lambda item: item[1]["resourceType"] != "Patient"):  # patients first: sites
        kind = res["resourceType"]
        try:
            if kind == "Patient":
                row = rows.patient_row(res)
                sites[row["patient_id"]] = row["site"]
                out["patients"].append(row)
            elif kind == "Encounter":
                out["encounters"].append(rows.encounter_row(res, ref, sites.get(ref(res.get("subject")) or "")))
            elif kind == "Observation":
                out["observations"].append(rows.observation_row(res, ref))
            elif kind == "Condition":
                out["conditions"].append(rows.condition_row(res, ref))
            elif kind == "MedicationRequest":
                out["medications"].append(rows.medication_row(res, ref, medications))
            elif kind == "DiagnosticReport" and rows.is_imaging_report(res):
                out["reports"].append(rows.report_row(res, ref, sites.get(ref(res.get("subject")) or "")))
            elif kind != "Medication":
                skipped[kind if kind != "DiagnosticReport" else "DiagnosticReport(non-imaging)"] += 1
        except rows.FieldProblem as exc:
            raise BundleError(path, f"entry[{i}].{exc.field}", str(exc)) from exc
    for table, table_rows in out.items():
        columns = TABLES[table][1]
        assert all(tuple(r) == columns for r in table_rows), f"{table} mapping out of step with lakehouse.raw.schema"
    if skipped:
        log.debug("%s: skipped unmapped resources %s", path, dict(skipped))
        if ignored is not None:
            ignored.update(skipped)
    return out


def bundle_files(folder: Path) -> list[Path]:
    """``*.json`` files under ``folder``, recursively and sorted, metadata files left out.

    Names starting with ``_`` or ``.`` are metadata (e.g. the generator's ``_phi_ledger.json``).
    """
    if not folder.is_dir():
        raise SageError(f"{folder} is not a folder of FHIR bundles", hint="pass a folder holding *.json Bundle files")
    return sorted(p for p in folder.rglob("*.json") if not p.name.startswith(("_", ".")))


def read_bundles(folder: Path, ignored: Counter[str] | None = None) -> Iterator[tuple[Path, BundleRows | BundleError]]:
    """Each bundle file of ``folder`` with its rows, or the :class:`BundleError` that stopped it.

    Args:
        folder: Any folder of FHIR R4 JSON bundles.
        ignored: If given, counts skipped (unmapped) resource types over all bundles.
    """
    for path in bundle_files(folder):
        try:
            yield path, read_bundle(path, ignored)
        except BundleError as exc:
            log.warning("bundle not ingested: %s", exc)
            yield path, exc
