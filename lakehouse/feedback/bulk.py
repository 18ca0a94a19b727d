"""Bulk label import through the same journalled path as corrections (evaluation noise, migrations).

One plan, one label version per case, one audit entry: a crash leaves all of it or none of it,
and the history shows the import as its own versions (kind ``import``).
"""

from __future__ import annotations

import uuid

from core.settings import Settings
from lakehouse.feedback import journal
from lakehouse.feedback.apply import apply_plan, new_plan, version_row
from lakehouse.feedback.models import Clinician, FeedbackError
from lakehouse.feedback.session import relabel_decision, store_session, with_no_finding
from lakehouse.findings import FindingState
from lakehouse.semantic.base import SemanticStore
from policies.audit import AuditLog


def import_labels(settings: Settings, labels: dict[str, dict[str, FindingState | None]], who: Clinician, reason: str, *, audit: AuditLog, store: SemanticStore | None = None) -> str:
    """Set finding states on many cases at once (None: not stated); returns the import's event id.

    Raises:
        FeedbackError: the caller may not relabel, or a case id is unknown.
    """
    decision = relabel_decision(settings, who, "bulk-import")
    if decision.effect != "allow":
        raise FeedbackError(decision.reason, hint="a role with can_relabel in the policy pack may import labels")
    event_id = f"imp-{uuid.uuid4().hex[:16]}"
    with journal.apply_lock(settings), store_session(settings, audit, store, release_store=False) as active:
        points = active.retrieve(sorted(labels))
        missing = set(labels) - {p.case_id for p in points}
        if missing:
            raise FeedbackError(f"unknown cases: {', '.join(sorted(missing)[:5])}", hint="import labels only for ingested cases")
        plan = new_plan(event_id)
        for point in points:
            current = dict(point.payload.get("labels") or {})
            new = dict(current)
            for finding, state in labels[point.case_id].items():
                if state is None:
                    new.pop(finding, None)
                else:
                    new[finding] = state
            new = with_no_finding(new, explicit="no_finding" in labels[point.case_id])
            if new != current:
                version_row(plan, case_id=point.case_id, version=int(point.payload.get("label_version") or 1) + 1, labels=new, before=current, kind="import",
                            event_id=event_id, parent_event_id=None, actor=who.user, role=who.role, reason=reason, events_before=point.payload.get("label_events"))
        plan["audit"].append({"actor": who.user, "action": "feedback:import", "resource": "labels", "decision": "ok", "run_id": None,
                              "details": {"event_id": event_id, "cases": len(plan["versions"])}})
        journal.write(settings, event_id, plan)
        apply_plan(settings, active, audit, plan)
    return event_id
