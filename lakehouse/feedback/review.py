"""The second review: corrections held for a second reviewer and proposals queued for review, decided.

Two things wait for a person (issue #19), both as ``feedback_events`` rows:

- a correction the pack sends to a second reviewer (a high-impact finding, or a move to or
  from ``uncertain``) is stored with status ``pending_review`` and changes no label
  (:func:`lakehouse.feedback.record.record_feedback` returns ``needs_review`` with its id);
- a proposal below the pack's ``auto_apply_confidence`` (or for a high-impact finding) is
  stored with status ``queued``.

:func:`decide_item` takes a reviewer's approve/reject on either, by id. Approving a correction
applies it through the same path as a fresh one, with ``reviewer`` set, so the pack's rules
are checked again on the labels as they are now: a reviewer who is the submitter, or not in
``reviewer_roles``, is refused and nothing changes. Rejecting it makes the row ``rejected``
with the reviewer (same reviewer rule). Every decision and every refusal is audited; each
write is a journalled plan, all or nothing like every other feedback write. The reviewer's
note only reaches the audit log as a fingerprint (it may carry identifiers).
"""

from __future__ import annotations

import json
from typing import Any

from core.settings import Settings
from lakehouse.feedback import journal
from lakehouse.feedback.apply import apply_plan, new_plan
from lakehouse.feedback.history import queued_proposals
from lakehouse.feedback.models import (
    Clinician,
    FeedbackError,
    FeedbackEvent,
    FeedbackResult,
    FindingChange,
    PendingCorrection,
    ReviewItemNotFoundError,
    ReviewOutcome,
    ReviewRefusedError,
)
from lakehouse.feedback.record import record_locked
from lakehouse.feedback.rollback import business_row, decide_proposal
from lakehouse.feedback.session import audit_denial, relabel_decision, rules_for, store_session
from lakehouse.feedback.tables import FeedbackTables
from lakehouse.semantic.base import SemanticStore
from policies.audit import AuditLog
from policies.engine import fingerprint
from policies.feedback_rules import FeedbackRules, review_decision

PENDING = "pending_review"
REVIEW_HINT = "list what waits with `sagehealth feedback pending` (GET /api/feedback/pending)"


def _changes(row: dict[str, Any]) -> list[FindingChange]:
    return [FindingChange.model_validate(c) for c in json.loads(row["changes"])]


def _row(settings: Settings, item_id: str) -> dict[str, Any] | None:
    return next((r for r in FeedbackTables(settings).scan("feedback_events") if r["event_id"] == item_id), None)


def pending_corrections(settings: Settings, case_id: str | None = None, rules: FeedbackRules | None = None) -> list[PendingCorrection]:
    """Corrections waiting for a second reviewer (optionally for one case), oldest first."""
    rules = rules_for(settings, rules)
    out = []
    for r in FeedbackTables(settings).scan("feedback_events"):
        if r["kind"] != "correction" or r["status"] != PENDING or (case_id and r["case_id"] != case_id):
            continue
        changes = _changes(r)
        why = review_decision(rules, [(c.finding, c.old, c.new) for c in changes], r["user"], None).reasons
        out.append(PendingCorrection(event_id=r["event_id"], case_id=r["case_id"], changes=changes, user=r["user"], role=r["role"], reason=r["reason"],
                                     run_id=r["run_id"], why=[w for w in why if w != "needs a second reviewer"], created_at=r["created_at"]))
    return sorted(out, key=lambda p: (p.created_at, p.event_id))


def _refused(audit: AuditLog, reviewer: Clinician, item_id: str, reasons: list[str], error: type[FeedbackError] = ReviewRefusedError) -> FeedbackError:
    audit_denial(audit, reviewer, "feedback:review", item_id, "deny", item_id, reasons)
    hint = REVIEW_HINT if error is not ReviewRefusedError else "another user in one of the pack's reviewer roles decides it"
    return error("; ".join(reasons), hint=hint)


def decide_correction(
    settings: Settings,
    event_id: str,
    reviewer: Clinician,
    approve: bool,
    *,
    audit: AuditLog,
    store: SemanticStore | None = None,
    rules: FeedbackRules | None = None,
    note: str = "",
    release_store: bool = False,
) -> FeedbackResult:
    """Approve (apply, with ``reviewer``) or reject a correction held for a second reviewer.

    Returns:
        Approved: the correction's ``applied`` result (new label version, proposals it caused).
        Rejected: status ``rejected`` (the row is now ``rejected`` with the reviewer; no label changed).

    Raises:
        ReviewRefusedError: the reviewer may not relabel, is the submitter, or is not in a reviewer
            role (audited; nothing changed; the correction stays pending).
        ReviewItemNotFoundError: no correction has this id.
        FeedbackError: the correction is not pending (already decided, or never needed review).
    """
    row = _row(settings, event_id)
    decision = relabel_decision(settings, reviewer, row["case_id"] if row else event_id)
    if decision.effect != "allow":
        raise _refused(audit, reviewer, event_id, [decision.reason])
    rules = rules_for(settings, rules)
    with journal.apply_lock(settings), store_session(settings, audit, store, release_store) as active:
        row = _row(settings, event_id)  # read again under the lock: another reviewer may have decided it
        if row is None or row["kind"] != "correction":
            raise _refused(audit, reviewer, event_id, [f"no correction with id {event_id!r}"], ReviewItemNotFoundError)
        if row["status"] != PENDING:
            raise _refused(audit, reviewer, event_id, [f"correction {event_id} is {row['status']}, not pending review"], FeedbackError)
        submitter = Clinician(user=row["user"], role=row["role"])
        event = FeedbackEvent(event_id=event_id, case_id=row["case_id"], changes=_changes(row), clinician=submitter, reason=row["reason"], run_id=row["run_id"], reviewer=reviewer)
        points = active.retrieve([event.case_id])
        current = dict(points[0].payload.get("labels") or {}) if points else {}
        review = review_decision(rules, [(c.finding, current.get(c.finding), c.new) for c in event.changes], submitter.user, (reviewer.user, reviewer.role))
        if review.effect == "deny":  # the submitter, or a role that may not review: the row stays pending
            raise _refused(audit, reviewer, event_id, review.reasons)
        if approve:  # the same path as a fresh correction, so the pack's rules are applied to the labels as they are now
            result = record_locked(settings, event, active, audit, rules, note=note)
            if result.status != "applied":  # e.g. the case left the semantic tier (audited); the row stays pending
                raise FeedbackError("; ".join(result.reasons), hint="reject it instead")
            return result
        plan = new_plan(f"{event_id}.rejected")
        plan["events"].append(business_row(row, status="rejected", reviewer=reviewer.user))
        plan["audit"].append({"actor": reviewer.user, "action": "feedback:review", "resource": event.case_id, "decision": "deny", "run_id": event.run_id,
                              "details": {"event_id": event_id, "role": reviewer.role, "submitter": submitter.user, "note": fingerprint(note) if note else None}})
        journal.write(settings, plan["plan_id"], plan)
        apply_plan(settings, active, audit, plan)
    return FeedbackResult(event_id=event_id, case_id=event.case_id, status="rejected", reasons=[f"rejected by second reviewer {reviewer.user}"])


def decide_item(
    settings: Settings,
    item_id: str,
    reviewer: Clinician,
    approve: bool,
    *,
    audit: AuditLog,
    store: SemanticStore | None = None,
    rules: FeedbackRules | None = None,
    note: str = "",
    release_store: bool = False,
) -> ReviewOutcome:
    """A reviewer's decision on a pending correction (``fb-...``) or a queued proposal (``fb-....pN``), by id.

    Raises:
        ReviewItemNotFoundError: no correction or proposal has this id (audited).
        ReviewRefusedError: the reviewer may not decide it (audited; nothing changed).
        FeedbackError: it is no longer waiting (decided, applied, withdrawn).
    """
    row = _row(settings, item_id)
    if row is None or row["kind"] not in ("correction", "proposal"):
        raise _refused(audit, reviewer, item_id, [f"no pending correction or queued proposal with id {item_id!r}"], ReviewItemNotFoundError)
    if row["kind"] == "correction":
        result = decide_correction(settings, item_id, reviewer, approve, audit=audit, store=store, rules=rules, note=note, release_store=release_store)
        return ReviewOutcome(item_id=item_id, kind="correction", approved=approve, case_id=result.case_id, reviewer=reviewer.user,
                             label_version=result.label_version, result=result if approve else None)
    proposal = next((p for p in queued_proposals(settings, row["case_id"]) if p.proposal_id == item_id), None)
    if proposal is None:
        raise _refused(audit, reviewer, item_id, [f"proposal {item_id} is {row['status']}, not queued"], FeedbackError)
    version = decide_proposal(settings, proposal, reviewer, approve, audit=audit, store=store, note=note, release_store=release_store)
    return ReviewOutcome(item_id=item_id, kind="proposal", approved=approve, case_id=proposal.case_id, reviewer=reviewer.user, label_version=version)
