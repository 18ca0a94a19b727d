"""Retrieve-then-edit impressions: the default ``rag`` drafting of the report task (issue 18).

Why not let the 135M model write: on the Indiana reports it copies abnormal findings from the
retrieved examples that the query does not have, and takes seconds per report on 2 cores. An
impression is mostly (a) which of the findings the radiologist chose to restate and (b) the
house phrasing. Both are read off label-matched prior cases instead:

1. :func:`impression_findings` decides which positive findings of the query the impression
   will state: a finding is kept when enough of the query's label-aware neighbours that carry
   it in their findings also state it in their impression (``KEEP_VOTE``; most findings are
   always kept, a few that radiologists often leave out of the impression need a vote);
2. :func:`required_labels` turns that set into a retrieval filter, so the candidates are
   prior cases whose reports carry exactly those findings (normal cases for a normal query);
3. :func:`edit_impression` picks the candidate whose impression states exactly the target
   findings and is most like the others (a minimum-Bayes-risk choice among the lexically
   closest candidates, so the phrasing is the common house style of similar reports), then
   repairs it: sentences naming a finding outside the target are removed, and a short
   house-style statement is added for each target finding it does not state. The result is
   labelled again, so the draft never names a finding the query does not support.

The thresholds and phrases were set on a development subset of the TRAIN split (ids = 1 mod 5,
held out from retrieval), never on the test split (docs/results.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

from lakehouse.findings import FINDING_KEYS
from lakehouse.retrieval import CaseEvidence

EDITOR_VERSION = "retrieve-edit-v1"
NORMAL_IMPRESSION = "No acute cardiopulmonary abnormality."
# Share of similar prior cases (that carry the finding in their findings) whose impression must
# state it before the draft does; findings not listed are always kept (threshold 0).
KEEP_VOTE: dict[str, float] = {"fracture": 0.3, "lung_lesion": 0.5, "pleural_other": 0.2, "support_devices": 0.4}
VOTE_NEIGHBOURS = 10  # neighbours carrying the finding that vote on it
CANDIDATES = 20  # label-matched prior cases retrieved per query
MBR_TOP = 5  # lexically closest candidates among which the consensus impression is chosen
# Added when a target finding is not stated by the chosen impression (house style: short, plain).
HOUSE_PHRASES: dict[str, str] = {
    "cardiomegaly": "Cardiomegaly.",
    "enlarged_cardiomediastinum": "Enlarged cardiomediastinal silhouette.",
    "lung_opacity": "Airspace opacity.",
    "lung_lesion": "Pulmonary nodule.",
    "edema": "Pulmonary edema.",
    "consolidation": "Consolidation.",
    "pneumonia": "Pneumonia.",
    "atelectasis": "Atelectasis.",
    "pneumothorax": "Pneumothorax.",
    "pleural_effusion": "Small pleural effusion.",
    "pleural_other": "Pleural thickening.",
    "fracture": "Rib fracture.",
    "support_devices": "Support devices in place.",
}
_WORD = re.compile(r"[a-z0-9]+")


class Candidate(BaseModel):
    """A prior case offered to the editor (from ``retrieve_similar_cases`` hits)."""

    case_id: str
    findings: str = ""
    impression: str = ""
    similarity: float = 0.0


class EditedImpression(BaseModel):
    """The edited impression and how it was made (kept in the draft's evidence)."""

    impression: str
    target: list[str] = Field(description="Positive findings the impression states (no_finding when empty).")
    base_case_id: str | None = Field(None, description="Prior case whose impression was edited.")
    removed: list[str] = Field(default_factory=list, description="Sentences removed for naming findings outside the target.")
    added: list[str] = Field(default_factory=list, description="House-style statements added for target findings.")
    version: str = EDITOR_VERSION


def abnormal_positives(text: str) -> set[str]:
    """Findings (``no_finding`` excluded) the labeler reads as present or uncertain in ``text``."""
    from lakehouse.labeler import label_text

    return {k for k, v in label_text(text).items() if v in ("present", "uncertain") and k != "no_finding"}


def _state_positives(labels: dict[str, str]) -> set[str]:
    return {k for k, v in labels.items() if v in ("present", "uncertain") and k != "no_finding"}


def impression_findings(query_labels: dict[str, str], neighbours: Iterable[Candidate]) -> set[str]:
    """The query's positive findings the impression should state (vote of similar prior cases, see ``KEEP_VOTE``)."""
    positives = _state_positives(query_labels)
    votes: dict[str, list[bool]] = {f: [] for f in positives if KEEP_VOTE.get(f, 0.0) > 0}
    for n in neighbours:
        if not votes or all(len(v) >= VOTE_NEIGHBOURS for v in votes.values()):
            break
        carried = [f for f, v in votes.items() if len(v) < VOTE_NEIGHBOURS]
        in_findings = abnormal_positives(n.findings) if carried else set()
        in_impression = abnormal_positives(n.impression) if carried else set()
        for f in carried:
            if f in in_findings:
                votes[f].append(f in in_impression)
    keep = set()
    for f in positives:
        threshold = KEEP_VOTE.get(f, 0.0)
        ballots = votes.get(f, [])
        if threshold <= 0 or (ballots and sum(ballots) / len(ballots) >= threshold):
            keep.add(f)
    return keep


def required_labels(target: set[str], query_labels: dict[str, str]) -> dict[str, str]:
    """Retrieval filter for candidates: the target findings the query states as present, or a normal report."""
    if not target:
        return {"no_finding": "present"}
    return {f: "present" for f in sorted(target) if query_labels.get(f) == "present"}


def _grams(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    return set(words) | {f"{a} {b}" for a, b in zip(words, words[1:], strict=False)}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def lcs_f1(a: Sequence[str], b: Sequence[str]) -> float:
    """ROUGE-L F1 of two token lists (longest common subsequence); the editor's agreement measure."""
    if not a or not b:
        return float(not a and not b)
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    lcs = previous[-1]
    return 2 * lcs / (len(a) + len(b))


def _consensus(query_findings: str, pool: Sequence[Candidate]) -> Candidate:
    """Among the ``MBR_TOP`` candidates lexically closest to the query, the one agreeing most with the others.

    Lexical closeness of the findings texts identifies reports written in the same template
    (often by the same reader); the minimum-Bayes-risk choice then prefers the phrasing those
    reports share over an idiosyncratic one.
    """
    query = _grams(query_findings)
    closest = sorted(pool, key=lambda c: (-_jaccard(query, _grams(c.findings)), -c.similarity, c.case_id))[:MBR_TOP]
    weights = [_jaccard(query, _grams(c.findings)) + 1e-6 for c in closest]
    words = [_WORD.findall(c.impression.lower()) for c in closest]
    scores = [sum(w * lcs_f1(a, b) for b, w in zip(words, weights, strict=True)) for a in words]
    return closest[max(range(len(closest)), key=lambda i: (scores[i], -i))]


def edit_impression(query_findings: str, target: set[str], candidates: Sequence[Candidate]) -> EditedImpression:
    """Draft the impression stating exactly ``target`` from the label-matched ``candidates`` (module docstring)."""
    from lakehouse.labeler import split_sentences

    usable = [c for c in candidates if c.impression.strip()]
    stated = {c.case_id: abnormal_positives(c.impression) for c in usable}
    exact = [c for c in usable if stated[c.case_id] == target]
    pool = exact or [c for c in usable if stated[c.case_id] <= target] or usable
    if not pool:
        text = " ".join(HOUSE_PHRASES[f] for f in FINDING_KEYS if f in target) or NORMAL_IMPRESSION
        return EditedImpression(impression=text, target=sorted(target) or ["no_finding"], added=[text])
    base = _consensus(query_findings, pool)
    if stated[base.case_id] == target:
        return EditedImpression(impression=base.impression.strip(), target=sorted(target) or ["no_finding"], base_case_id=base.case_id)
    kept, removed = [], []
    for sentence in split_sentences(base.impression):
        (kept if abnormal_positives(sentence) <= target else removed).append(sentence)
    have = abnormal_positives(" ".join(kept))
    added = [HOUSE_PHRASES[f] for f in FINDING_KEYS if f in target - have and f in HOUSE_PHRASES]
    text = " ".join(added + kept).strip() or NORMAL_IMPRESSION
    return EditedImpression(impression=text, target=sorted(target) or ["no_finding"], base_case_id=base.case_id, removed=removed, added=added)


def as_candidates(hits: Iterable[CaseEvidence]) -> list[Candidate]:
    """``retrieve_similar_cases`` hits as editor candidates (ranked by their cosine similarity)."""
    return [Candidate(case_id=h.case_id, findings=h.findings, impression=h.impression, similarity=h.similarity) for h in hits]
