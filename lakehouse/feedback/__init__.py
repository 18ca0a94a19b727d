"""Clinician feedback loop: correct a case's labels, propagate to similar cases, roll back (issue #19).

Public API (typed; services and the CLI call these)::

    record_feedback(settings, FeedbackEvent, audit=AuditLog) -> FeedbackResult
    rollback(settings, event_id, Clinician, audit=AuditLog) -> RollbackResult
    label_history(settings, case_id) -> list[LabelVersion]
    feedback_events_for(settings, case_ids) -> list[str]
    queued_proposals(settings, case_id=None) -> list[Proposal]
    decide_proposal(settings, Proposal, Clinician, approve, audit=AuditLog) -> int | None
    pending_corrections(settings, case_id=None) -> list[PendingCorrection]
    decide_correction(settings, event_id, Clinician, approve, audit=AuditLog) -> FeedbackResult
    decide_item(settings, item_id, Clinician, approve, audit=AuditLog) -> ReviewOutcome   # either kind
    recover(settings, audit=AuditLog) -> list[str]      # replay crashed plans (call on start)

See docs/feedback.md for the data model, the journal and the policy rules.
"""

from __future__ import annotations

from core.settings import Settings
from lakehouse.feedback.bulk import import_labels
from lakehouse.feedback.history import feedback_events_for, label_history, queued_proposals
from lakehouse.feedback.journal import apply_lock
from lakehouse.feedback.models import (
    Clinician,
    FeedbackError,
    FeedbackEvent,
    FeedbackResult,
    FindingChange,
    LabelVersion,
    PendingCorrection,
    Proposal,
    ReviewItemNotFoundError,
    ReviewOutcome,
    ReviewRefusedError,
    RollbackResult,
)
from lakehouse.feedback.record import record_feedback
from lakehouse.feedback.review import decide_correction, decide_item, pending_corrections
from lakehouse.feedback.rollback import decide_proposal, rollback
from lakehouse.feedback.session import store_session
from lakehouse.semantic.base import SemanticStore
from policies.audit import AuditLog


def recover(settings: Settings, *, audit: AuditLog, store: SemanticStore | None = None, release_store: bool = False) -> list[str]:
    """Finish any feedback plan a killed process left half-applied; returns the replayed plan ids.

    Every feedback operation does this first anyway; call it on start so the stores are
    consistent before anything reads them.
    """
    from lakehouse.feedback import journal

    if not journal.pending(settings):
        return []
    with apply_lock(settings):
        pending = [p["plan_id"] for p in journal.pending(settings)]
        with store_session(settings, audit, store, release_store):
            pass
    return pending


__all__ = [
    "Clinician",
    "FeedbackError",
    "FeedbackEvent",
    "FeedbackResult",
    "FindingChange",
    "LabelVersion",
    "PendingCorrection",
    "Proposal",
    "ReviewItemNotFoundError",
    "ReviewOutcome",
    "ReviewRefusedError",
    "RollbackResult",
    "decide_correction",
    "decide_item",
    "decide_proposal",
    "feedback_events_for",
    "import_labels",
    "label_history",
    "pending_corrections",
    "queued_proposals",
    "record_feedback",
    "recover",
    "rollback",
]
