"""Find the similar cases a correction should spread to, each as a proposal that says why.

A case receives a proposal for a corrected finding when (issue #19):

1. it is similar: cosine of its findings-text vector to the corrected case's is at least
   ``rules.similarity_threshold`` (searched inside the engine, nearest first);
2. it carries the old label: its stored state for the finding is the state the corrected case
   had before the correction;
3. its own report text supports the new label: the project labeler, run on the case's
   impression and findings, gives the finding the new state; the first sentence that says so is
   the proposal's evidence (with ``rules.require_text_support=False`` this check is skipped,
   which is the evaluation's "propagation without text support" arm).

Confidence is the similarity, times 0.9 when the new state is ``absent`` and the text never
mentions the finding, and halved when the text contradicts it (only without the check); proposals
at or above ``rules.auto_apply_confidence`` are applied with the correction, the others (and
every proposal for a high-impact finding) are queued for review.
"""

from __future__ import annotations

from typing import Any

from lakehouse.feedback.models import FindingChange, Proposal, Support
from lakehouse.findings import FindingState
from lakehouse.semantic.base import CasePoint, SearchFilter, SemanticStore
from policies.feedback_rules import FeedbackRules

_WEIGHT: dict[str, float] = {"stated": 1.0, "not_mentioned": 0.9, "contradicted": 0.5}


def text_support(payload: dict[str, Any], finding: str, state: FindingState) -> tuple[Support, str | None]:
    """How the case's own report supports ``finding`` = ``state``, and the first sentence that says so.

    ``stated``: the labeler reads that state off the text. ``not_mentioned``: the new state is
    ``absent`` and the text never mentions the finding (weaker: nothing contradicts it).
    ``contradicted``: the text says otherwise.
    """
    from lakehouse.labeler import aggregate
    from lakehouse.labeler.rules import find_mentions

    text = f"{payload.get('impression') or ''}\n{payload.get('findings') or ''}"
    sentences, found = find_mentions(text)
    read = aggregate(found).get(finding)
    if read is None and state == "absent":
        return "not_mentioned", None
    if read != state:
        return "contradicted", None
    first = next((m for m in found if m.finding == finding and m.state == state), None)
    return "stated", (sentences[first.sentence] if first is not None and first.sentence < len(sentences) else None)


def _candidates(store: SemanticStore, point: CasePoint, finding: str, old: FindingState | None, rules: FeedbackRules) -> list[tuple[str, float, dict[str, Any]]]:
    vector = point.vectors.get("text")
    if vector is None:
        return []
    split = rules.propagate_splits[0] if rules.propagate_splits and len(rules.propagate_splits) == 1 else None
    flt = SearchFilter(findings={finding: old} if old is not None else {}, split=split, exclude_ids=[point.case_id])
    out = []
    for hit in store.search(vector, using="text", filter=flt, limit=rules.max_candidates):
        p = hit.payload
        if hit.score < rules.similarity_threshold:
            break
        if (p.get("labels") or {}).get(finding) != old:
            continue
        if rules.propagate_splits is not None and p.get("split") not in rules.propagate_splits:
            continue
        out.append((hit.case_id, float(hit.score), p))
    return out


def find_proposals(store: SemanticStore, point: CasePoint, before: dict[str, FindingState], changes: list[FindingChange], rules: FeedbackRules, event_id: str) -> list[Proposal]:
    """Proposals for the cases similar to ``point`` (the corrected case, with vectors), nearest first per finding.

    Args:
        store: The semantic tier.
        point: The corrected case, retrieved with vectors.
        before: Its labels before the correction (the "old label" candidates must carry).
        changes: The correction's finding changes.
        rules: The pack's feedback rules.
        event_id: The correction's id (proposal ids derive from it).
    """
    if not rules.propagate:
        return []
    proposals: list[Proposal] = []
    for change in changes:
        old = before.get(change.finding)
        if old == change.new:
            continue
        for case_id, similarity, payload in _candidates(store, point, change.finding, old, rules):
            support, sentence = text_support(payload, change.finding, change.new)
            if rules.require_text_support and support == "contradicted":
                continue
            confidence = round(similarity * _WEIGHT[support], 4)
            auto = confidence >= rules.auto_apply_confidence and change.finding not in rules.high_impact_findings
            proposals.append(Proposal(
                proposal_id=f"{event_id}.p{len(proposals) + 1}", event_id=event_id, case_id=case_id, finding=change.finding, old=old, new=change.new,
                similarity=round(similarity, 4), support=support, supporting_sentence=sentence, confidence=confidence, status="applied" if auto else "queued",
            ))
    return proposals
