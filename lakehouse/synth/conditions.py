"""The acute Conditions of a synthetic patient: what the linked X-ray report says is present.

Findings are read with the project's labeler (the same one that labels the semantic tier), so a
patient's ICD-10 problem list agrees with the labels a user sees on the case. Only ``present``
findings become Conditions: an uncertain finding ("may represent pneumonia") is not a diagnosis.
"""

from __future__ import annotations

from lakehouse.findings import positive_findings
from lakehouse.labeler import label_report

# Used only while lakehouse.knowledge.icd10 is not importable (kept in step with it).
_FALLBACK_ICD10: dict[str, tuple[str, str]] = {
    "enlarged_cardiomediastinum": ("R93.89", "Abnormal findings on diagnostic imaging of other specified body structures"),
    "cardiomegaly": ("I51.7", "Cardiomegaly"),
    "lung_opacity": ("R91.8", "Other nonspecific abnormal finding of lung field"),
    "lung_lesion": ("R91.1", "Solitary pulmonary nodule"),
    "edema": ("J81.0", "Acute pulmonary edema"),
    "consolidation": ("J18.1", "Lobar pneumonia, unspecified organism"),
    "pneumonia": ("J18.9", "Pneumonia, unspecified organism"),
    "atelectasis": ("J98.11", "Atelectasis"),
    "pneumothorax": ("J93.9", "Pneumothorax, unspecified"),
    "pleural_effusion": ("J90", "Pleural effusion, not elsewhere classified"),
    "pleural_other": ("J92.9", "Pleural plaque without asbestos"),
    "fracture": ("S22.39XA", "Fracture of one rib, unspecified side, initial encounter for closed fracture"),
    "support_devices": ("Z97.8", "Presence of other specified devices"),
}


def positive_findings_of(findings: str, impression: str) -> set[str]:
    """Finding keys the labeler reads as present in the report (``no_finding`` excluded)."""
    return set(positive_findings(label_report(findings, impression)))


def icd10_codes(finding: str) -> list[tuple[str, str]]:
    """ICD-10-CM (code, description) pairs for one finding key, best first."""
    try:
        from lakehouse.knowledge.icd10 import icd10_for_finding
    except ImportError:
        return [_FALLBACK_ICD10[finding]] if finding in _FALLBACK_ICD10 else []
    return list(icd10_for_finding(finding))


def finding_conditions(positive: set[str]) -> list[tuple[str, str]]:
    """One (code, description) per positive finding that has a code, in a stable order, no repeats."""
    codes: dict[str, str] = {}
    for finding in sorted(positive):
        pairs = icd10_codes(finding)
        if pairs:
            codes.setdefault(pairs[0][0], pairs[0][1])
    return list(codes.items())
