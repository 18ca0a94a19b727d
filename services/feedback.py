"""The clinician feedback loop as services: correct labels, read a case's label history, roll back.

A correction goes through the one gate (``update_labels``) and then through the feedback
rules of the pack (who may correct what; which corrections need a second reviewer; how far
they propagate): ``lakehouse.feedback`` records it as a new label version in the raw tier,
updates the Qdrant payloads in place, proposes it to similar cases, and audits it. The
installation's query snapshot is dropped after every change, so retrieval and SQL see the new
labels at once.
"""

from __future__ import annotations

from pydantic import Field

from lakehouse.feedback import (
    Clinician,
    FeedbackEvent,
    FeedbackResult,
    FindingChange,
    LabelVersion,
    RollbackResult,
    feedback_events_for,
    label_history,
    record_feedback,
    recover,
)
from lakehouse.feedback import rollback as rollback_event
from lakehouse.findings import FINDING_KEYS, STATES
from services.base import Caller, ServiceRequest, governed
from tools.resources import Resources

HINT = "use a role the policy pack lets relabel (clinician or radiologist)"
__all__ = ["FINDING_KEYS", "STATES", "CorrectionRequest", "FeedbackResult", "FindingChange", "correct", "events_for", "history", "rollback"]


class CorrectionRequest(ServiceRequest):
    """A clinician's correction of one case's labels."""

    case_id: str = Field(min_length=1, max_length=64)
    changes: list[FindingChange] = Field(min_length=1, max_length=14)
    reason: str = Field(min_length=3, max_length=1000)
    run_id: str | None = Field(None, max_length=128, description="The run whose output was wrong, if any.")
    reviewer: Caller | None = Field(None, description="A second reviewer who approved it (corrections the pack sends to review).")


def _clinician(caller: Caller) -> Clinician:
    return Clinician(user=caller.user, role=caller.role, purpose=caller.purpose)


def correct(resources: Resources, caller: Caller, request: CorrectionRequest) -> FeedbackResult:
    """Record a correction with its propagation (all or nothing); ``needs_review``/``rejected`` say why."""
    with governed(resources, caller, "feedback", "update_labels", resource=request.case_id, audit_action="feedback:correct", hint=HINT, audit=False):
        recover(resources.settings, audit=resources.audit, store=resources.store)  # finish what a killed process left half-applied
        event = FeedbackEvent(case_id=request.case_id, changes=request.changes, clinician=_clinician(caller), reason=request.reason, run_id=request.run_id,
                              reviewer=_clinician(request.reviewer) if request.reviewer else None)
        try:
            return record_feedback(resources.settings, event, audit=resources.audit, store=resources.store)
        finally:
            resources.drop("query")  # SQL sees the new labels at once


def history(resources: Resources, caller: Caller, case_id: str) -> list[LabelVersion]:
    """Every label version of a case, oldest first, with who changed it and why."""
    with governed(resources, caller, "label_history", "labels_read", resource=case_id[:64], audit_action="labels:history"):
        return label_history(resources.settings, case_id)


def rollback(resources: Resources, caller: Caller, event_id: str) -> RollbackResult:
    """Undo one correction with the propagation it caused; later unrelated corrections stay."""
    with governed(resources, caller, "labels_rollback", "update_labels", resource=event_id[:64], audit_action="feedback:rollback", hint=HINT, audit=False):
        recover(resources.settings, audit=resources.audit, store=resources.store)
        try:
            return rollback_event(resources.settings, event_id, _clinician(caller), audit=resources.audit, store=resources.store)
        finally:
            resources.drop("query")


def events_for(resources: Resources, case_ids: list[str]) -> list[str]:
    """The feedback events that shaped these cases' current labels (a run links its trace to them)."""
    return feedback_events_for(resources.settings, case_ids)
