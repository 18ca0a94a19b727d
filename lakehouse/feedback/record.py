"""Submit a correction: validate, govern, plan (with propagation), journal, apply.

Order matters for "nothing changes" on bad input: every check that can refuse runs before the
journal is written. The checks:

1. the pack's relabel rule for the clinician's role and purpose (``can_relabel``);
2. the case exists in the semantic tier (unknown findings and illegal states are already
   refused by :class:`~lakehouse.feedback.models.FeedbackEvent`);
3. the pack's feedback rules: a high-impact or uncertain correction without an approving
   second reviewer comes back as ``needs_review``: it is stored as a ``pending_review``
   ``feedback_events`` row (journalled and audited like every other write, no label changes)
   that a second reviewer approves or rejects (:mod:`lakehouse.feedback.review`); a reviewer
   who is the same user or in a role that may not review is refused.

Refusals are audited; nothing else is written for them. A correction
whose ``old`` differs from the stored state (another clinician changed it a moment earlier) is
still applied on top of the current version, and the mismatch is returned in ``reasons``:
both versions stay in the history, the later one wins.
"""

from __future__ import annotations

from typing import Any

from core.settings import Settings
from lakehouse.feedback import journal
from lakehouse.feedback.apply import apply_plan, new_plan, version_row
from lakehouse.feedback.models import FeedbackEvent, FeedbackResult, Proposal
from lakehouse.feedback.propagate import find_proposals
from lakehouse.feedback.session import (
    audit_denial,
    relabel_decision,
    rules_for,
    store_session,
    with_no_finding,
)
from lakehouse.feedback.tables import dumps
from lakehouse.findings import FindingState
from lakehouse.semantic.base import SemanticStore
from policies.audit import AuditLog
from policies.engine import fingerprint
from policies.feedback_rules import FeedbackRules, review_decision


def _event_row(event: FeedbackEvent, status: str, created_at: str) -> dict[str, Any]:
    return {
        "event_id": event.event_id, "kind": "correction", "status": status, "case_id": event.case_id,
        "changes": dumps([c.model_dump() for c in event.changes]), "user": event.clinician.user, "role": event.clinician.role,
        "reviewer": event.reviewer.user if event.reviewer else None, "reason": event.reason, "run_id": event.run_id,
        "parent_event_id": None, "similarity": None, "confidence": None, "supporting_sentence": None, "created_at": created_at,
    }


def proposal_row(p: Proposal, event: FeedbackEvent, created_at: str) -> dict[str, Any]:
    """The ``feedback_events`` row of a proposal."""
    return {
        "event_id": p.proposal_id, "kind": "proposal", "status": p.status, "case_id": p.case_id,
        "changes": dumps([{"finding": p.finding, "old": p.old, "new": p.new, "support": p.support}]), "user": event.clinician.user, "role": event.clinician.role,
        "reviewer": None, "reason": "propagated from " + event.event_id, "run_id": event.run_id, "parent_event_id": event.event_id,
        "similarity": p.similarity, "confidence": p.confidence, "supporting_sentence": p.supporting_sentence, "created_at": created_at,
    }


def _refuse(audit: AuditLog, event: FeedbackEvent, status: str, reasons: list[str]) -> FeedbackResult:
    audit_denial(audit, event.clinician, "feedback:correct", event.case_id, "deny" if status == "rejected" else "review", event.event_id, reasons)
    return FeedbackResult(event_id=event.event_id, case_id=event.case_id, status=status, reasons=reasons)  # type: ignore[arg-type]


def record_feedback(
    settings: Settings,
    event: FeedbackEvent,
    *,
    audit: AuditLog,
    store: SemanticStore | None = None,
    rules: FeedbackRules | None = None,
    release_store: bool = False,
) -> FeedbackResult:
    """Validate, govern and apply one correction with its propagation, all or nothing.

    Args:
        settings: The installation (``SAGE_HOME``, active policy pack).
        event: The correction.
        audit: Where audit entries go (ids and fingerprints only).
        store: An open semantic store; None opens the installation's under the lock.
        rules: Feedback rules overriding the pack's (evaluation arms).
        release_store: Close a store this call opened before returning (multi-process use of Edge).

    Returns:
        ``applied`` (with the new version, labels and proposals), ``needs_review`` (stored as a
        pending correction under ``event_id``, which a second reviewer approves or rejects; no
        label changed) or ``rejected`` (with reasons; nothing but the audit entry was written).
    """
    decision = relabel_decision(settings, event.clinician, event.case_id)
    if decision.effect != "allow":
        return _refuse(audit, event, "rejected", [decision.reason])
    rules = rules_for(settings, rules)
    with journal.apply_lock(settings), store_session(settings, audit, store, release_store) as active:
        return record_locked(settings, event, active, audit, rules)


def record_locked(settings: Settings, event: FeedbackEvent, active: SemanticStore, audit: AuditLog, rules: FeedbackRules, *, note: str = "") -> FeedbackResult:
    """:func:`record_feedback` after the relabel check, for a caller that holds the apply lock and an open store.

    A second reviewer's approval of a pending correction (:func:`lakehouse.feedback.review.decide_correction`)
    runs this with ``event.reviewer`` set, so the pack's review rules are checked again on the
    case's labels as they are now; ``note`` is the reviewer's (audited as a fingerprint only).
    """
    points = active.retrieve([event.case_id], with_vectors=True)
    if not points:
        return _refuse(audit, event, "rejected", [f"unknown case {event.case_id!r}: not in the semantic tier"])
    point = points[0]
    before: dict[str, FindingState] = dict(point.payload.get("labels") or {})
    changes = [(c.finding, before.get(c.finding), c.new) for c in event.changes]
    reviewer = (event.reviewer.user, event.reviewer.role) if event.reviewer else None
    review = review_decision(rules, changes, event.clinician.user, reviewer)
    if review.effect == "deny":
        return _refuse(audit, event, "rejected", review.reasons)
    if review.effect == "review":
        return _hold_for_review(settings, event, active, audit, review.reasons)
    notes = [f"{c.finding}: you saw {c.old!r} but the label was {before.get(c.finding)!r} (changed meanwhile); applied on top" for c in event.changes if c.old != before.get(c.finding)]
    notes += [r for r in review.reasons if r]

    after = {**before, **{c.finding: c.new for c in event.changes}}
    after = with_no_finding(after, explicit=any(c.finding == "no_finding" for c in event.changes))
    proposals = find_proposals(active, point, before, event.changes, rules, event.event_id)
    plan = build_plan(event, point.payload, before, after, proposals, active, note=note)
    journal.write(settings, plan["plan_id"], plan)
    journal.checkpoint("after_journal")
    apply_plan(settings, active, audit, plan)
    version = int(point.payload.get("label_version") or 1) + 1
    return FeedbackResult(event_id=event.event_id, case_id=event.case_id, status="applied", reasons=notes, label_version=version, labels=after, proposals=proposals)


def _hold_for_review(settings: Settings, event: FeedbackEvent, active: SemanticStore, audit: AuditLog, reasons: list[str]) -> FeedbackResult:
    """Store a correction the pack sends to a second reviewer as ``pending_review`` (no label changes), journalled and audited.

    The plan id differs from the event id: the approval later applies a plan named after the
    event, and a replayed plan's audit entries are matched by plan id.
    """
    plan = new_plan(f"{event.event_id}.review")
    plan["events"].append(_event_row(event, "pending_review", plan["created_at"]))
    plan["audit"].append({
        "actor": event.clinician.user, "action": "feedback:correct", "resource": event.case_id, "decision": "review", "run_id": event.run_id,
        "details": {"event_id": event.event_id, "role": event.clinician.role, "findings": [c.finding for c in event.changes],
                    "reasons": [r[:200] for r in reasons], "reason": fingerprint(event.reason)},
    })
    journal.write(settings, plan["plan_id"], plan)
    apply_plan(settings, active, audit, plan)
    return FeedbackResult(event_id=event.event_id, case_id=event.case_id, status="needs_review", reasons=reasons)


def build_plan(event: FeedbackEvent, payload: dict[str, Any], before: dict[str, FindingState], after: dict[str, FindingState], proposals: list[Proposal], store: SemanticStore,
               *, note: str = "") -> dict[str, Any]:
    """The journal plan of a correction: its version, one version per case with applied proposals, rows, audit.

    With a second reviewer, the reviewer's approval is its own audit entry (the reviewer is its actor).
    """
    plan = new_plan(event.event_id)
    who, role = event.clinician.user, event.clinician.role
    plan["events"].append(_event_row(event, "applied", plan["created_at"]))
    plan["events"] += [proposal_row(p, event, plan["created_at"]) for p in proposals]
    version = int(payload.get("label_version") or 1) + 1
    version_row(plan, case_id=event.case_id, version=version, labels=after, before=before, kind="correction", event_id=event.event_id,
                parent_event_id=None, actor=who, role=role, reason=event.reason, events_before=payload.get("label_events"))
    applied: dict[str, list[Proposal]] = {}
    for p in proposals:
        if p.status == "applied":
            applied.setdefault(p.case_id, []).append(p)
    for point in store.retrieve(sorted(applied)):
        old = dict(point.payload.get("labels") or {})
        new = {**old, **{p.finding: p.new for p in applied[point.case_id]}}
        new = with_no_finding(new, explicit=any(p.finding == "no_finding" for p in applied[point.case_id]))
        version_row(plan, case_id=point.case_id, version=int(point.payload.get("label_version") or 1) + 1, labels=new, before=old, kind="propagation",
                    event_id=event.event_id, parent_event_id=event.event_id, actor=who, role=role, reason=f"propagated from {event.event_id}",
                    events_before=point.payload.get("label_events"))
    plan["audit"].append({
        "actor": who, "action": "feedback:correct", "resource": event.case_id, "decision": "ok", "run_id": event.run_id,
        "details": {"event_id": event.event_id, "role": role, "reviewer": event.reviewer.user if event.reviewer else None, "label_version": version,
                    "findings": [c.finding for c in event.changes], "reason": fingerprint(event.reason)},
    })
    if event.reviewer is not None:
        plan["audit"].append({
            "actor": event.reviewer.user, "action": "feedback:review", "resource": event.case_id, "decision": "ok", "run_id": event.run_id,
            "details": {"event_id": event.event_id, "role": event.reviewer.role, "submitter": who, "note": fingerprint(note) if note else None},
        })
    if proposals:
        plan["audit"].append({
            "actor": who, "action": "feedback:propagate", "resource": event.case_id, "decision": "ok", "run_id": event.run_id,
            "details": {"event_id": event.event_id, "applied": sorted(applied), "queued": sorted({p.case_id for p in proposals if p.status == "queued"})[:50]},
        })
    return plan
