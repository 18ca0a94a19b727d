"""Shared plumbing of the feedback operations: the store session, governance checks, label helpers.

The embedded Qdrant Edge shard can be opened by one process at a time, so an operation that
is not handed a store opens it *inside* the apply lock and, with ``release_store=True``, closes
it again before the lock is released: several processes can then take turns on one
``SAGE_HOME`` (the multi-process tests do). A long-lived process passes its own store and keeps it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from core.settings import Settings
from lakehouse.feedback.apply import replay_pending
from lakehouse.feedback.models import Clinician
from lakehouse.findings import FindingState
from lakehouse.semantic.base import SemanticStore
from policies.audit import AuditEvent, AuditLog
from policies.engine import Caller, PolicyDecision, PolicyEngine
from policies.feedback_rules import FeedbackRules, load_feedback_rules
from policies.packs import load_pack

_NOT_ABNORMAL = {"no_finding", "support_devices"}


@contextmanager
def store_session(settings: Settings, audit: AuditLog, store: SemanticStore | None, release_store: bool) -> Iterator[SemanticStore]:
    """The store to use under the apply lock, with any crashed plan replayed first."""
    from lakehouse.semantic import open_store

    own = store is None
    active = open_store(settings) if store is None else store
    try:
        replay_pending(settings, active, audit)
        yield active
    finally:
        if own and release_store:
            active.close()


def policy_engine(settings: Settings) -> PolicyEngine:
    """The engine of the installation's active pack."""
    return PolicyEngine(load_pack(settings.policy_pack))


def rules_for(settings: Settings, rules: FeedbackRules | None) -> FeedbackRules:
    """Rules given by the caller (evaluation arms) or the active pack's feedback section."""
    return rules if rules is not None else load_feedback_rules(settings.policy_pack)


def relabel_decision(settings: Settings, who: Clinician, case_id: str) -> PolicyDecision:
    """The pack's relabel decision for this clinician (unknown role, bad purpose, can_relabel false: deny)."""
    return policy_engine(settings).check_relabel(Caller(user=who.user, role=who.role, purpose=who.purpose), case_id)


def audit_denial(audit: AuditLog, who: Clinician, action: str, resource: str, decision: str, event_id: str, reasons: list[str]) -> None:
    """One audit entry for a refused or review-bound request (reasons are short rule texts, no clinical text)."""
    audit.append(AuditEvent(actor=who.user, action=action, resource=resource, decision=decision, details={"event_id": event_id, "role": who.role, "reasons": [r[:200] for r in reasons]}))


def with_no_finding(labels: dict[str, FindingState], explicit: bool) -> dict[str, FindingState]:
    """``labels`` with ``no_finding`` recomputed as the labeler does, unless the correction set it itself."""
    if explicit:
        return labels
    abnormal = any(state in ("present", "uncertain") for key, state in labels.items() if key not in _NOT_ABNORMAL)
    return {**labels, "no_finding": "absent" if abnormal else "present"}
