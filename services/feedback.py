"""The clinician feedback loop as services: correct labels, read a case's label history, roll back.

A correction goes through the one gate (``update_labels``) and then through the feedback
rules of the pack (who may correct what; which corrections need a second reviewer; how far
they propagate): ``lakehouse.feedback`` records it as a new label version in the raw tier,
updates the Qdrant payloads in place, proposes it to similar cases, and audits it. The
installation's query snapshot is dropped after every change, so retrieval and SQL see the new
labels at once.

Two things then wait for a person, and :func:`pending` / :func:`decide` are where one sees and
decides them (``sagehealth feedback pending|approve|reject``, ``GET /api/feedback/pending``,
``POST /api/feedback/{id}/decision``, the web page's review queue): corrections the pack sends
to a second reviewer, and proposals below the pack's auto-apply confidence.

Corrections come in through three doors, all ending in :func:`correct` (the same gate, rules,
journal and audit): ``sagehealth feedback`` / the API, the chat ``feedback`` task (which hands
over to that command), and the review queue, where a reviewer's edit of a paused report draft's
impression or finding labels becomes a correction of the reported case
(:func:`correct_from_review`, called by ``services.reviews.decide``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from lakehouse.feedback import (
    Clinician,
    FeedbackEvent,
    FeedbackResult,
    FindingChange,
    LabelVersion,
    PendingCorrection,
    Proposal,
    ReviewOutcome,
    RollbackResult,
    decide_item,
    feedback_events_for,
    label_history,
    pending_corrections,
    queued_proposals,
    record_feedback,
    recover,
)
from lakehouse.feedback import rollback as rollback_event
from lakehouse.findings import FINDING_KEYS, STATES, FindingState
from services.base import Caller, ServiceRequest, governed
from tools.resources import Resources

HINT = "use a role the policy pack lets relabel (clinician or radiologist)"
__all__ = ["FINDING_KEYS", "STATES", "CorrectionRequest", "DecisionRequest", "FeedbackResult", "FindingChange", "PendingReviews", "ReviewOutcome",
           "correct", "decide", "events_for", "history", "pending", "rollback"]


class CorrectionRequest(ServiceRequest):
    """A clinician's correction of one case's labels."""

    case_id: str = Field(min_length=1, max_length=64)
    changes: list[FindingChange] = Field(min_length=1, max_length=14)
    reason: str = Field(min_length=3, max_length=1000)
    run_id: str | None = Field(None, max_length=128, description="The run whose output was wrong, if any.")
    reviewer: Caller | None = Field(None, description="A second reviewer who approved it (corrections the pack sends to review).")


def _clinician(caller: Caller) -> Clinician:
    return Clinician(user=caller.user, role=caller.role, purpose=caller.purpose)


def _gate(resources: Resources, caller: Caller, case_id: str) -> Any:
    return governed(resources, caller, "feedback", "update_labels", resource=case_id, audit_action="feedback:correct", hint=HINT, audit=False)


def _labels_changed(resources: Resources) -> None:
    """After a label write: SQL sees the new labels at once, and the impression planner learns them at its next use."""
    resources.drop("query")
    resources.drop("impression_planner")


def _record(resources: Resources, caller: Caller, request: CorrectionRequest) -> FeedbackResult:
    recover(resources.settings, audit=resources.audit, store=resources.store)  # finish what a killed process left half-applied
    event = FeedbackEvent(case_id=request.case_id, changes=request.changes, clinician=_clinician(caller), reason=request.reason, run_id=request.run_id,
                          reviewer=_clinician(request.reviewer) if request.reviewer else None)
    try:
        return record_feedback(resources.settings, event, audit=resources.audit, store=resources.store)
    finally:
        _labels_changed(resources)


def correct(resources: Resources, caller: Caller, request: CorrectionRequest) -> FeedbackResult:
    """Record a correction with its propagation (all or nothing); ``needs_review``/``rejected`` say why."""
    with _gate(resources, caller, request.case_id):
        return _record(resources, caller, request)


def edited_labels(draft: dict[str, Any], edit: dict[str, Any]) -> dict[str, FindingState]:
    """The finding states a reviewer's edit of a report draft asserts, where it differs from the draft.

    ``edit`` holds the fields the reviewer changed. Explicit ``draft_labels`` are taken as they
    are; otherwise an edited ``impression`` is read by the project labeler (the same reading the
    draft's own ``draft_labels`` came from). A finding the draft stated present or uncertain that
    the edited impression no longer mentions counts as ``absent``: the reviewer took it out.
    ``no_finding`` is left to the loop, which recomputes it from the other findings.
    """
    from lakehouse.labeler import label_text

    before: dict[str, str] = dict(draft.get("draft_labels") or label_text(str(draft.get("impression") or "")))
    if isinstance(edit.get("draft_labels"), dict):
        after: dict[str, str] = dict(edit["draft_labels"])
    elif "impression" in edit:
        after = dict(label_text(str(edit.get("impression") or "")))
        after |= {f: "absent" for f, state in before.items() if state in ("present", "uncertain") and f not in after}
    else:
        return {}
    return {f: state for f, state in sorted(after.items()) if f != "no_finding" and before.get(f) != state}  # type: ignore[misc]


def correct_from_review(resources: Resources, caller: Caller, *, case_id: str, stated: dict[str, FindingState], run_id: str | None) -> FeedbackResult | None:
    """A reviewer's edit of a report draft as a correction of the reported case (``sagehealth feedback``'s path).

    Only findings whose stated state differs from the case's stored label are corrected (the
    draft may have been wrong where the labels are right); ``None`` when there is nothing to
    correct. The reviewer is the clinician; the run is the event's ``run_id``. The reason names
    the run, not the reviewer's note: the note may carry identifiers, and the run keeps it
    (PHI-masked) with its review decision.
    """
    with _gate(resources, caller, case_id):
        points = resources.store.retrieve([case_id])
        stored: dict[str, FindingState] = dict(points[0].payload.get("labels") or {}) if points else {}
        changes = [FindingChange(finding=f, old=stored.get(f), new=state) for f, state in stated.items() if stored.get(f) != state]
        if not changes:
            return None
        reason = f"review edit of run {run_id} (the reviewer's note is on the run's review decision)"
        return _record(resources, caller, CorrectionRequest(case_id=case_id, changes=changes, reason=reason, run_id=run_id))


def history(resources: Resources, caller: Caller, case_id: str) -> list[LabelVersion]:
    """Every label version of a case, oldest first, with who changed it and why.

    A reason is free text a clinician typed, so it passes the installation's de-identifier
    before it leaves, like the texts of :func:`pending` (the raw tier keeps it as typed).
    """
    with governed(resources, caller, "label_history", "labels_read", resource=case_id[:64], audit_action="labels:history"):
        versions = label_history(resources.settings, case_id)
        reasons = [i for i, v in enumerate(versions) if v.reason]
        clean = resources.redactor.redact_batch([versions[i].reason or "" for i in reasons]) if reasons else []
    for i, redaction in zip(reasons, clean, strict=True):
        versions[i] = versions[i].model_copy(update={"reason": redaction.text})
    return versions


def rollback(resources: Resources, caller: Caller, event_id: str) -> RollbackResult:
    """Undo one correction with the propagation it caused; later unrelated corrections stay."""
    with governed(resources, caller, "labels_rollback", "update_labels", resource=event_id[:64], audit_action="feedback:rollback", hint=HINT, audit=False):
        recover(resources.settings, audit=resources.audit, store=resources.store)
        try:
            return rollback_event(resources.settings, event_id, _clinician(caller), audit=resources.audit, store=resources.store)
        finally:
            _labels_changed(resources)


def events_for(resources: Resources, case_ids: list[str]) -> list[str]:
    """The feedback events that shaped these cases' current labels (a run links its trace to them)."""
    return feedback_events_for(resources.settings, case_ids)


ITEM_ID = r"^[A-Za-z0-9_.:-]{3,80}$"
"""A reviewable item's id: a correction's event id (``fb-...``) or a proposal's (``fb-....pN``)."""


class PendingReviews(BaseModel):
    """What waits for a reviewer: corrections held for a second reviewer, and queued proposals.

    Free text (a correction's reason, a proposal's supporting sentence) has passed the
    installation's de-identifier: a clinician may have typed an identifier into a reason.
    """

    corrections: list[PendingCorrection] = Field(default_factory=list)
    proposals: list[Proposal] = Field(default_factory=list)
    redacted: list[str] = Field(default_factory=list, description="PHI entity types replaced in the texts.")


class DecisionRequest(ServiceRequest):
    """A reviewer's decision on one pending correction or queued proposal."""

    item_id: str = Field(pattern=ITEM_ID, description="A pending correction's event id or a queued proposal's id.")
    approve: bool
    note: str = Field("", max_length=2000, description="The reviewer's note (only its fingerprint is audited).")


def pending(resources: Resources, caller: Caller, case_id: str | None = None) -> PendingReviews:
    """Corrections waiting for a second reviewer and proposals queued for review (optionally for one case).

    Only a role that may relabel sees the queue (it is the role that can decide it); the read is audited.
    """
    with governed(resources, caller, "feedback_pending", "update_labels", resource=(case_id or "feedback")[:64], audit_action="feedback:pending", hint=HINT):
        corrections = pending_corrections(resources.settings, case_id)
        proposals = queued_proposals(resources.settings, case_id)
        texts = [c.reason for c in corrections] + [p.supporting_sentence or "" for p in proposals]
        redactions = resources.redactor.redact_batch(texts) if texts else []
    clean = [r.text for r in redactions]
    return PendingReviews(
        corrections=[c.model_copy(update={"reason": t}) for c, t in zip(corrections, clean[: len(corrections)], strict=True)],
        proposals=[p.model_copy(update={"supporting_sentence": t or p.supporting_sentence}) for p, t in zip(proposals, clean[len(corrections):], strict=True)],
        redacted=sorted({e.type for r in redactions for e in r.entities}),
    )


def decide(resources: Resources, caller: Caller, item_id: str, approve: bool, note: str = "") -> ReviewOutcome:
    """Approve or reject a pending correction or a queued proposal as the caller (the second reviewer).

    The gate checks the caller may relabel (``update_labels``); the pack's feedback rules then
    refuse a reviewer who submitted the correction or is not in a reviewer role. Every decision
    and refusal is audited; a refusal changes nothing.

    Raises:
        RequestError: a malformed id or note.
        ReviewItemNotFoundError: no such item; ReviewRefusedError: the caller may not decide it;
        FeedbackError: it no longer waits (already decided, applied or withdrawn).
    """
    request = DecisionRequest.parse({"item_id": item_id, "approve": approve, "note": note})
    with governed(resources, caller, "feedback_decide", "update_labels", resource=request.item_id[:64], audit_action="feedback:review", hint=HINT, audit=False):
        recover(resources.settings, audit=resources.audit, store=resources.store)
        try:
            return decide_item(resources.settings, request.item_id, _clinician(caller), request.approve, audit=resources.audit, store=resources.store, note=request.note)
        finally:
            _labels_changed(resources)
