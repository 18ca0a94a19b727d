"""Finding <-> ICD-10-CM codes, with descriptions from the CMS release in ``simple_icd_10_cm``.

Radiographic findings are not diagnoses, so each finding maps to the codes a coder would
reach from it: the condition itself where one exists (cardiomegaly -> I51.7), otherwise the
"abnormal finding on imaging" code (lung opacity -> R91.8). Every code is checked against the
installed code set the first time the table is read, so a typo fails loudly, not silently.
"""

from __future__ import annotations

from functools import cache

from core.errors import SageError
from lakehouse.findings import check_finding

# Finding key -> ICD-10-CM codes, most specific / most usual first.
FINDING_CODES: dict[str, tuple[str, ...]] = {
    "no_finding": (),
    "enlarged_cardiomediastinum": ("R93.1", "J98.59"),
    "cardiomegaly": ("I51.7",),
    "lung_opacity": ("R91.8",),
    "lung_lesion": ("R91.1", "R91.8"),
    "edema": ("J81.0", "J81.1", "I50.9"),
    "consolidation": ("R91.8", "J18.1"),
    "pneumonia": ("J18.9", "J18.1"),
    "atelectasis": ("J98.11",),
    "pneumothorax": ("J93.9",),
    "pleural_effusion": ("J90", "J91.8"),
    "pleural_other": ("J94.9", "J92.9"),
    "fracture": ("S22.39XA",),
    "support_devices": ("Z95.0", "Z95.2", "Z97.8"),
}


class UnknownICD10Error(SageError):
    """An ICD-10-CM code is not in the installed code set."""


def _lib():  # noqa: ANN202 - third-party module
    import simple_icd_10_cm

    return simple_icd_10_cm


def describe_icd10(code: str) -> str:
    """The CMS description of an ICD-10-CM code (with or without the dot).

    Raises:
        UnknownICD10Error: the code is not in the code set.
    """
    lib = _lib()
    if not lib.is_valid_item(code):
        raise UnknownICD10Error(f"ICD-10-CM code {code!r} is not in the installed code set", hint="check the code, e.g. 'J18.9'")
    return str(lib.get_description(code))


@cache
def _table() -> dict[str, list[tuple[str, str]]]:
    return {key: [(code, describe_icd10(code)) for code in codes] for key, codes in FINDING_CODES.items()}


def icd10_for_finding(key: str) -> list[tuple[str, str]]:
    """``(code, description)`` pairs for a finding key (empty for ``no_finding``).

    Raises:
        ValueError: ``key`` is not one of the 14 findings.
    """
    return list(_table()[check_finding(key)])


def findings_for_icd10(code: str) -> list[str]:
    """Finding keys that map to ``code`` or to an ancestor/descendant of it (``J18`` -> pneumonia)."""
    lib = _lib()
    normalized = lib.add_dot(code.strip().upper()) if lib.is_valid_item(code.strip().upper()) else code.strip().upper()
    if not lib.is_valid_item(normalized):
        raise UnknownICD10Error(f"ICD-10-CM code {code!r} is not in the installed code set", hint="check the code, e.g. 'J18.9'")
    found = []
    for key, codes in FINDING_CODES.items():
        if any(c == normalized or lib.is_ancestor(normalized, c) or lib.is_descendant(normalized, c) for c in codes):
            found.append(key)
    return found
