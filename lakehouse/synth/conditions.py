"""The acute Conditions of a synthetic patient: what the linked X-ray report says is present.

Findings are read with the project's labeler (the same one that labels the semantic tier), so a
patient's ICD-10 problem list agrees with the labels a user sees on the case. Only ``present``
findings become Conditions: an uncertain finding ("may represent pneumonia") is not a diagnosis.
"""

from __future__ import annotations

from lakehouse.findings import positive_findings
from lakehouse.knowledge.icd10 import icd10_for_finding
from lakehouse.labeler import label_report


def positive_findings_of(findings: str, impression: str) -> set[str]:
    """Finding keys the labeler reads as present in the report (``no_finding`` excluded)."""
    return set(positive_findings(label_report(findings, impression)))


def finding_conditions(positive: set[str]) -> list[tuple[str, str]]:
    """One (code, description) per positive finding: its first (most usual) ICD-10-CM code, no repeats."""
    codes: dict[str, str] = {}
    for finding in sorted(positive):
        pairs = icd10_for_finding(finding)
        if pairs:
            codes.setdefault(pairs[0][0], pairs[0][1])
    return list(codes.items())
