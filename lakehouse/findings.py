"""The 14 CheXpert observations and their label states: the shared vocabulary of every layer."""

from __future__ import annotations

from typing import Literal

FindingState = Literal["present", "absent", "uncertain"]
NOT_STATED = "not_stated"
"""``report_labels.state`` of a finding a later version no longer states (append-only: no row is deleted)."""
STATES: tuple[FindingState, ...] = ("present", "absent", "uncertain")

# Keys are snake_case payload/column names; values are the CheXpert display names.
FINDINGS: dict[str, str] = {
    "no_finding": "No Finding",
    "enlarged_cardiomediastinum": "Enlarged Cardiomediastinum",
    "cardiomegaly": "Cardiomegaly",
    "lung_opacity": "Lung Opacity",
    "lung_lesion": "Lung Lesion",
    "edema": "Edema",
    "consolidation": "Consolidation",
    "pneumonia": "Pneumonia",
    "atelectasis": "Atelectasis",
    "pneumothorax": "Pneumothorax",
    "pleural_effusion": "Pleural Effusion",
    "pleural_other": "Pleural Other",
    "fracture": "Fracture",
    "support_devices": "Support Devices",
}
FINDING_KEYS: tuple[str, ...] = tuple(FINDINGS)

Labels = dict[str, FindingState]
"""A case's labels: finding key -> state. Findings not mentioned are absent from the dict."""


def positive_findings(labels: Labels) -> list[str]:
    """Keys labelled present, excluding ``no_finding``: what makes a case abnormal."""
    return [k for k, v in labels.items() if v == "present" and k != "no_finding"]


def check_finding(key: str) -> str:
    """Return ``key`` if it names one of the 14 findings, else raise ``ValueError`` listing them."""
    if key not in FINDINGS:
        raise ValueError(f"unknown finding {key!r}; expected one of: {', '.join(FINDING_KEYS)}")
    return key
