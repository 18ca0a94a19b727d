"""Undo one correction together with the propagation it caused, and decide queued proposals.

Rollback is itself a new label version (kind ``rollback``), never a deletion: the history keeps
the correction, its propagation and the undo. Per case and finding it restores the state from
before the event, *unless* something later changed that finding again: another correction, a
later rollback, or a re-ingest that read it afresh from an amended report. The later change wins
and is reported in ``kept_later``. Unrelated later corrections of the same case (other findings)
are untouched by construction.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from core.settings import Settings
from lakehouse.feedback import journal
from lakehouse.feedback.apply import apply_plan, new_plan, next_label_events, version_row
from lakehouse.feedback.history import event_rows
from lakehouse.feedback.models import Clinician, FeedbackError, Proposal, ReviewRefusedError, RollbackResult
from lakehouse.feedback.session import audit_denial, relabel_decision, store_session, with_no_finding
from lakehouse.feedback.tables import SCHEMAS, FeedbackTables
from lakehouse.semantic.base import SemanticStore
from policies.audit import AuditLog
from policies.engine import fingerprint


def business_row(row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A ``feedback_events`` row's business columns with ``changes`` applied (the next version of that row)."""
    return {**{n: row[n] for n, _ in SCHEMAS["feedback_events"][1]}, **changes}


def _restore_targets(versions: list[dict[str, Any]], event_id: str) -> tuple[dict[str, dict[str, str | None]], dict[str, list[str]]]:
    """Case -> finding -> state before the event, and case -> findings a later version changed again."""
    restore: dict[str, dict[str, str | None]] = {}
    kept: dict[str, list[str]] = {}
    cases = sorted({v["case_id"] for v in versions if v["event_id"] == event_id})
    for case in cases:
        own = sorted((v for v in versions if v["case_id"] == case and v["event_id"] == event_id), key=lambda v: v["version"])
        others = [v for v in versions if v["case_id"] == case and v["event_id"] != event_id]
        first_before: dict[str, str | None] = {}
        last_version: dict[str, int] = {}
        for v in own:
            for finding, (before, _) in json.loads(v["changed"]).items():
                first_before.setdefault(finding, before)
                last_version[finding] = int(v["version"])
        for finding, before in first_before.items():
            if any(int(o["version"]) > last_version[finding] and finding in json.loads(o["changed"]) for o in others):
                kept.setdefault(case, []).append(finding)
            else:
                restore.setdefault(case, {})[finding] = before
    return restore, kept


def _still_from(targets: dict[str, str | None], events: object, event_id: str) -> tuple[dict[str, str | None], list[str]]:
    """The findings of ``targets`` whose current state still comes from ``event_id``, and the others (kept as they are).

    Label versions record feedback only. A re-ingest that read a finding afresh from an amended
    report (``merge_labels``) writes no label version, but it drops the finding's source from the
    payload's ``label_events``: restoring the state from before the event would then overwrite
    the newer reading with an older one. Payloads written before ``label_events`` existed carry
    none; the versions alone decide there. ``no_finding`` is derived from the others, and is
    recomputed once any finding is kept.
    """
    if not isinstance(events, dict):
        return targets, []
    later = sorted(f for f in targets if f != "no_finding" and events.get(f) != event_id)
    return {f: s for f, s in targets.items() if f not in later}, later


def sources_before(case_versions: list[dict[str, Any]], event_id: str) -> dict[str, str | None]:
    """Finding -> the feedback event behind a case's state just before ``event_id`` first changed it (the ``label_events`` a rollback restores).

    ``case_versions`` are the case's ``label_versions`` rows. Replays those before the event; a
    finding no feedback version changed has no source (the labeler's reading).
    """
    own = [int(v["version"]) for v in case_versions if v["event_id"] == event_id]
    first = min(own) if own else 0
    events: dict[str, str] = {}
    for v in sorted((v for v in case_versions if int(v["version"]) < first), key=lambda v: int(v["version"])):
        rolled_back = v["parent_event_id"] if v["kind"] == "rollback" else None
        earlier = sources_before(case_versions, rolled_back) if rolled_back else None
        events = next_label_events(events, json.loads(v["changed"]), v["kind"], v["event_id"], earlier, rolled_back)
    return dict(events)


def rollback(settings: Settings, event_id: str, caller: Clinician, *, audit: AuditLog, store: SemanticStore | None = None, reason: str = "rollback", release_store: bool = False) -> RollbackResult:
    """Undo correction ``event_id`` and its applied proposals; queued ones are withdrawn.

    Raises:
        FeedbackError: the caller may not relabel, the event is unknown, or it was already rolled back.
    """
    row = next((r for r in event_rows(settings, event_id) if r["event_id"] == event_id), None)
    decision = relabel_decision(settings, caller, row["case_id"] if row else event_id)
    if decision.effect != "allow":
        audit_denial(audit, caller, "feedback:rollback", event_id, "deny", event_id, [decision.reason])
        raise FeedbackError(decision.reason, hint="a role with can_relabel in the policy pack may roll back corrections")
    rollback_id = f"rb-{uuid.uuid4().hex[:16]}"
    with journal.apply_lock(settings), store_session(settings, audit, store, release_store) as active:
        rows = event_rows(settings, event_id)
        row = next((r for r in rows if r["event_id"] == event_id), None)
        if row is None or row["kind"] != "correction":
            raise FeedbackError(f"no correction with id {event_id!r}", hint="see `sagehealth labels history CASE` for event ids")
        if row["status"] == "rolled_back":
            raise FeedbackError(f"correction {event_id} was already rolled back", hint="nothing to undo")
        if row["status"] != "applied":  # held for (or refused by) a second reviewer: it changed no label
            raise FeedbackError(f"correction {event_id} is {row['status']}, not applied", hint="a pending correction is rejected with `sagehealth feedback reject`, not rolled back")
        versions = FeedbackTables(settings).scan("label_versions")
        restore, kept = _restore_targets(versions, event_id)
        by_case: dict[str, list[dict[str, Any]]] = {}
        for v in versions:
            if v["case_id"] in restore:
                by_case.setdefault(v["case_id"], []).append(v)
        plan = new_plan(rollback_id)
        plan["events"].append({**business_row(row, event_id=rollback_id, kind="rollback", status="applied", parent_event_id=event_id, reason=reason, user=caller.user,
                                           role=caller.role, reviewer=None, run_id=None, created_at=plan["created_at"])})
        plan["events"] += [business_row(r, status="rolled_back") for r in rows if r["status"] in ("applied", "queued")]
        for point in active.retrieve(sorted(restore)):
            targets, later = _still_from(restore[point.case_id], point.payload.get("label_events"), event_id)
            if later:  # disjoint from what the versions kept: those findings are not in ``restore``
                kept.setdefault(point.case_id, []).extend(later)
            current = dict(point.payload.get("labels") or {})
            labels = dict(current)
            for finding, state in targets.items():
                if state is None:
                    labels.pop(finding, None)
                else:
                    labels[finding] = state
            if point.case_id in kept and "no_finding" not in kept[point.case_id]:
                labels = with_no_finding(labels, explicit=False)
            if labels != current:
                version_row(plan, case_id=point.case_id, version=int(point.payload.get("label_version") or 1) + 1, labels=labels, before=current, kind="rollback",
                            event_id=rollback_id, parent_event_id=event_id, actor=caller.user, role=caller.role, reason=reason,
                            events_before=point.payload.get("label_events"), restored_events=sources_before(by_case.get(point.case_id, []), event_id))
        plan["audit"].append({"actor": caller.user, "action": "feedback:rollback", "resource": row["case_id"], "decision": "ok", "run_id": None,
                              "details": {"event_id": rollback_id, "rolled_back": event_id, "role": caller.role, "cases": sorted(restore)[:100], "kept_later": sorted(kept)[:100]}})
        journal.write(settings, rollback_id, plan)
        apply_plan(settings, active, audit, plan)
    restored = {v["case_id"]: {f: after for f, (_, after) in v["changed"].items()} for v in plan["versions"]}
    return RollbackResult(event_id=event_id, rollback_event_id=rollback_id, restored=restored, kept_later=kept)


def decide_proposal(settings: Settings, proposal: Proposal, reviewer: Clinician, approve: bool, *, audit: AuditLog, store: SemanticStore | None = None,
                    note: str = "", release_store: bool = False) -> int | None:
    """Apply (approve) or reject a queued proposal after review; returns the case's new label version when applied.

    ``note`` is the reviewer's; only its fingerprint is audited (it may carry identifiers).

    Raises:
        ReviewRefusedError: the reviewer may not relabel (a ``FeedbackError``).
        FeedbackError: the proposal is no longer queued.
    """
    decision = relabel_decision(settings, reviewer, proposal.case_id)
    if decision.effect != "allow":
        audit_denial(audit, reviewer, "feedback:proposal", proposal.proposal_id, "deny", proposal.proposal_id, [decision.reason])
        raise ReviewRefusedError(decision.reason, hint="a role with can_relabel in the policy pack may review proposals")
    with journal.apply_lock(settings), store_session(settings, audit, store, release_store) as active:
        row = next((r for r in event_rows(settings, proposal.event_id) if r["event_id"] == proposal.proposal_id), None)
        if row is None or row["status"] != "queued":
            raise FeedbackError(f"proposal {proposal.proposal_id} is not queued", hint="list open proposals with queued_proposals()")
        plan = new_plan(f"{proposal.proposal_id}.{'ok' if approve else 'no'}")
        plan["events"].append(business_row(row, status="applied" if approve else "rejected", reviewer=reviewer.user))
        version = None
        points = active.retrieve([proposal.case_id])
        if approve and points:
            current = dict(points[0].payload.get("labels") or {})
            labels = with_no_finding({**current, proposal.finding: proposal.new}, explicit=proposal.finding == "no_finding")
            version = int(points[0].payload.get("label_version") or 1) + 1
            version_row(plan, case_id=proposal.case_id, version=version, labels=labels, before=current, kind="propagation", event_id=proposal.event_id,
                        parent_event_id=proposal.event_id, actor=reviewer.user, role=reviewer.role, reason=f"proposal {proposal.proposal_id} approved",
                        events_before=points[0].payload.get("label_events"))
        plan["audit"].append({"actor": reviewer.user, "action": "feedback:proposal", "resource": proposal.case_id, "decision": "ok" if approve else "deny", "run_id": None,
                              "details": {"event_id": proposal.event_id, "proposal_id": proposal.proposal_id, "role": reviewer.role, "note": fingerprint(note) if note else None}})
        journal.write(settings, plan["plan_id"], plan)
        apply_plan(settings, active, audit, plan)
    return version
