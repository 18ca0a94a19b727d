"""Label a chest X-ray report with the 14 CheXpert findings, by rules (no model, no spaCy).

Why our own rules: the CheXpert labeler and medspacy pin NLP stacks that conflict with the
spaCy used for PHI detection, and a precompiled-regex labeler runs thousands of reports a
second on one core, fast enough to label a whole corpus at ingest and every feedback event.

Usage::

    from lakehouse.labeler import label_report, positive_sentences
    label_report("Mild cardiomegaly. No pleural effusion.", "Cardiomegaly.")
    # {'cardiomegaly': 'present', 'pleural_effusion': 'absent', 'no_finding': 'absent'}
"""

from __future__ import annotations

from lakehouse.findings import FindingState, Labels
from lakehouse.labeler.rules import Mention, find_mentions

LABELER_NAME = "sage-rules-v1"
"""Name and version stamped on every label set this labeler writes (label provenance)."""

_RANK: dict[FindingState, int] = {"present": 3, "uncertain": 2, "absent": 1}
# As in CheXpert: devices do not make a study abnormal.
_NOT_ABNORMAL = {"no_finding", "support_devices"}


def mentions(text: str) -> list[Mention]:
    """Every finding mention of ``text`` with its state, in reading order."""
    return find_mentions(text)[1]


def aggregate(found: list[Mention]) -> Labels:
    """Per finding, the strongest state over its mentions (present > uncertain > absent), plus no_finding.

    ``no_finding`` is ``present`` when no other finding (support devices excepted) is present or
    uncertain, and ``absent`` otherwise; findings never mentioned are left out.
    """
    labels: Labels = {}
    for m in found:
        current = labels.get(m.finding)
        if current is None or _RANK[m.state] > _RANK[current]:
            labels[m.finding] = m.state
    abnormal = any(state in ("present", "uncertain") for key, state in labels.items() if key not in _NOT_ABNORMAL)
    labels["no_finding"] = "absent" if abnormal else "present"
    return labels


def label_text(text: str) -> Labels:
    """Labels of free report text (any sections concatenated)."""
    return aggregate(mentions(text))


def label_report(findings: str, impression: str = "") -> Labels:
    """Labels of a report from its impression and findings sections (both read, impression first)."""
    return label_text(f"{impression}\n{findings}")


def positive_sentences(text: str) -> list[str]:
    """Sentences that state a present or uncertain finding (not negated), in order.

    Used to embed only the abnormal content of a report, so that similarity is not dominated
    by normal boilerplate ("No pneumothorax. Heart size normal.").
    """
    sentences, found = find_mentions(text)
    positive = {m.sentence for m in found if m.state != "absent"}
    return [s for i, s in enumerate(sentences) if i in positive]
