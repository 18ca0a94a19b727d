"""What a researcher/research caller at site-a must never see, computed from the trusted engine, and a checker.

Shared by the SQL-exfiltration and search tests. The forbidden set is computed independently of
the code under test: straight from the unscoped engine's rows, in Python.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from lakehouse.query import QueryEngine

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_CASE = re.compile(r"\bCXR\d+\b")
_MRN = re.compile(r"\bM\d{8}\b")
_PHONE = re.compile(r"\(\d{3}\) \d{3}-\d{4}")
_FULL_DATE = re.compile(r"\b(?:19|20)\d\d-\d\d-\d\d")


@dataclass
class Forbidden:
    """Identifiers and out-of-scope row ids for one scope (site, consents, max sensitivity)."""

    names: re.Pattern[str]
    streets: set[str]
    patient_ids: set[str] = field(default_factory=set)
    case_ids: set[str] = field(default_factory=set)
    row_ids: set[str] = field(default_factory=set)
    allowed_patients: set[str] = field(default_factory=set)
    allowed_cases: set[str] = field(default_factory=set)
    identifiers_hidden: bool = True
    dates_coarse: bool = True


def in_rules(patient: dict[str, Any] | None, site: str, consents: set[str] | None, max_sensitivity: int, own_site: str | None, default_site: str) -> bool:
    """The row rule, written independently of lakehouse.scoped: the patient's tags, fail-closed defaults."""
    p = patient or {}
    tag_site = p.get("site") or own_site or default_site
    consent = p.get("consent") or "treatment-only"
    sens = 1 if p.get("sensitivity") is None else p["sensitivity"]
    return tag_site == site and (consents is None or consent in consents) and sens <= max_sensitivity


def forbidden_for(trusted: QueryEngine, site: str, consents: set[str] | None, max_sensitivity: int, default_site: str, *, identifiers_hidden: bool = True, dates_coarse: bool = True) -> Forbidden:
    """Everything outside the scope, plus the patients' direct identifiers when the scope hides them."""
    patients = {r["patient_id"]: r for r in trusted.sql("SELECT * FROM patients", max_rows=100_000).records()}
    names = sorted({f"{p['given_name']} {p['family_name']}" for p in patients.values() if p["given_name"] and p["family_name"]} | {f"{p['family_name']}, {p['given_name']}" for p in patients.values() if p["given_name"] and p["family_name"]}, key=len, reverse=True)
    streets = {p["address"].split(",")[0] for p in patients.values() if p["address"]}
    out = Forbidden(names=re.compile("|".join(re.escape(n) for n in names)), streets=streets, identifiers_hidden=identifiers_hidden, dates_coarse=dates_coarse)
    for pid, p in patients.items():
        (out.allowed_patients if in_rules(p, site, consents, max_sensitivity, None, default_site) else out.patient_ids).add(pid)
    for r in trusted.sql("SELECT report_id, patient_id, encounter_id, site FROM reports", max_rows=100_000).records():
        ok = in_rules(patients.get(r["patient_id"]), site, consents, max_sensitivity, r["site"], default_site)
        (out.allowed_cases if ok else out.case_ids).add(r["report_id"])
        if not ok and r["encounter_id"]:
            out.row_ids.add(r["encounter_id"])
    for table, key in (("observations", "observation_id"), ("conditions", "condition_id"), ("medications", "medication_id")):
        for r in trusted.sql(f"SELECT {key}, patient_id FROM {table}", max_rows=1_000_000).records():
            if not in_rules(patients.get(r["patient_id"]), site, consents, max_sensitivity, None, default_site):
                out.row_ids.add(r[key])
    return out


def cell_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def leaks(rows: list[list[Any]] | list[tuple[Any, ...]], columns: list[str], forbidden: Forbidden) -> list[str]:
    """Every leak in a result: a forbidden identifier, an out-of-scope row id, or a day-precise date."""
    found: list[str] = []
    text = "\n".join(cell_text(v) for row in rows for v in row) + "\n" + " ".join(columns)
    for token in _UUID.findall(text):
        if token in forbidden.patient_ids or token in forbidden.row_ids:
            found.append(f"out-of-scope id {token}")
    for token in _CASE.findall(text):
        if token in forbidden.case_ids:
            found.append(f"out-of-scope case {token}")
    if forbidden.identifiers_hidden:
        found += [f"MRN {m}" for m in _MRN.findall(text)]
        found += [f"phone {m}" for m in _PHONE.findall(text)]
        found += [f"name {m}" for m in forbidden.names.findall(text)]
        found += [f"street {s}" for s in forbidden.streets if s in text]
        for col in columns:
            if col.lower() in {"mrn", "given_name", "family_name", "birth_date", "address", "phone"}:
                found.append(f"identifier column {col}")
    if forbidden.dates_coarse:
        found += [f"full date {m}" for m in _FULL_DATE.findall(text)]
    return found[:20]
