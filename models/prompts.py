"""Prompt templates versioned with the code; one place so training and inference agree.

The findings -> impression prompt is used by LoRA training (``models.adapt``), by report
drafting (``agents.tasks.report``) and by batch generation: a change here changes all three,
and the template version is recorded in adapter manifests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

IMPRESSION_TEMPLATE_VERSION = "impression-v1"

IMPRESSION_SYSTEM = (
    "You are a radiologist writing the IMPRESSION section of a chest X-ray report. "
    "Be concise, state abnormal findings first, and do not invent findings that are not described."
)


@dataclass(frozen=True)
class PriorCase:
    """A retrieved similar case shown to the model as an example."""

    case_id: str
    findings: str
    impression: str


def impression_messages(findings: str, indication: str = "", examples: Sequence[PriorCase] = ()) -> list[dict[str, str]]:
    """Chat messages asking for an impression from findings (and optional similar cases).

    Args:
        findings: The FINDINGS section of the report being drafted.
        indication: Clinical indication, if known.
        examples: Similar prior cases (retrieval augmentation); empty for ``no-rag``.
    """
    parts: list[str] = []
    if examples:
        parts.append("Similar prior cases:")
        for i, ex in enumerate(examples, 1):
            parts.append(f"[{i}] Findings: {ex.findings}\n    Impression: {ex.impression}")
        parts.append("")
    if indication:
        parts.append(f"Indication: {indication}")
    parts.append(f"Findings: {findings}")
    parts.append("Impression:")
    return [
        {"role": "system", "content": IMPRESSION_SYSTEM},
        {"role": "user", "content": "\n".join(parts)},
    ]
