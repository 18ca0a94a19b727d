"""Apply one journalled plan to the raw tier, the Qdrant payloads and the audit log, idempotently.

A plan (a JSON-able dict, see :func:`new_plan`) lists everything one event writes:

- ``events``: ``feedback_events`` rows (the correction, its proposals, a rollback);
- ``versions``: one new label version per touched case (full label snapshot + what changed);
- ``audit``: audit events.

:func:`apply_plan` writes them in that order, then the payloads, then the audit entries. Each
writer is a no-op for content already there, so applying a plan twice (a replay after a crash)
changes nothing the first run already did. The per-finding rows of ``report_labels`` keep
every other reader (SQL views, cohorts, datasets) on the current labels; a finding taken back
to "not stated" gets the state ``not_stated`` there and disappears from the payload labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from core.settings import Settings
from lakehouse.feedback import journal
from lakehouse.feedback.tables import SCHEMAS, FeedbackTables, dumps
from lakehouse.findings import NOT_STATED, positive_findings
from lakehouse.semantic.base import SemanticStore
from policies.audit import AuditEvent, AuditLog


def now_iso() -> str:
    """UTC now as ISO text (stored in the plan, so a replay writes identical rows)."""
    return datetime.now(UTC).isoformat()


def new_plan(plan_id: str) -> dict[str, Any]:
    """An empty plan."""
    return {"plan_id": plan_id, "created_at": now_iso(), "events": [], "versions": [], "audit": []}


SHAPING_KINDS = frozenset({"correction", "propagation", "import"})
"""Version kinds whose event becomes the source of the findings they change (a rollback restores an earlier source)."""


def next_label_events(events: dict[str, str] | None, changed: Iterable[str], kind: str, event_id: str, restored: dict[str, str | None] | None = None,
                      withdrawn: str | None = None) -> dict[str, str]:
    """Finding -> the feedback event behind its current state, after a version changed ``changed``.

    This is the payload's ``label_events``: a retrieved case carries the corrections that shaped
    its labels, so a run citing it links its trace to them without reading the history. A
    correction, its propagation or an import becomes the source of what it changed; a rollback
    puts back the source each finding had before the withdrawn event (``restored``; none: the
    labeler's own reading), and no finding keeps the ``withdrawn`` event as its source (a
    derived ``no_finding`` the rollback left as it was, say).
    """
    out = dict(events or {})
    for finding in changed:
        source = event_id if kind in SHAPING_KINDS else (restored or {}).get(finding)
        if source:
            out[finding] = source
        else:
            out.pop(finding, None)
    return {f: e for f, e in sorted(out.items()) if withdrawn is None or e != withdrawn}


def version_row(plan: dict[str, Any], *, case_id: str, version: int, labels: Mapping[str, str], before: Mapping[str, str], kind: str, event_id: str,
                parent_event_id: str | None, actor: str, role: str | None, reason: str | None, events_before: dict[str, str] | None = None,
                restored_events: dict[str, str | None] | None = None) -> dict[str, Any]:
    """Add a label version of ``case_id`` to the plan (``changed`` is computed from ``before``).

    ``events_before`` is the case's payload ``label_events`` before this version; the plan row
    carries the result in ``label_events`` (for the payload only: the table keeps the history
    it is derived from).
    """
    changed = {f: [before.get(f), labels.get(f)] for f in sorted(set(before) | set(labels)) if before.get(f) != labels.get(f)}
    row = {
        "version_id": f"{case_id}@{version}", "case_id": case_id, "version": version, "labels": dict(sorted(labels.items())), "changed": changed,
        "kind": kind, "event_id": event_id, "parent_event_id": parent_event_id, "actor": actor, "role": role, "reason": reason, "created_at": plan["created_at"],
        "label_events": next_label_events(events_before, changed, kind, event_id, restored_events, parent_event_id if kind == "rollback" else None),
    }
    plan["versions"].append(row)
    return row


def _label_rows(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for v in versions:
        for finding, (_, after) in v["changed"].items():
            rows.append({
                "label_id": f"{v['case_id']}/{finding}", "report_id": v["case_id"], "finding": finding, "state": after or NOT_STATED,
                "label_version": v["version"], "labeler": f"{v['kind']}:{v['event_id']}",
            })
    return rows


def _audit(audit: AuditLog, plan: dict[str, Any], replay: bool) -> None:
    seen: set[tuple[str, str]] = set()
    if replay:  # a crashed run may have written some of them already
        seen = {(e.action, e.resource) for e in audit.entries() if e.details.get("plan_id") == plan["plan_id"]}
    for event in plan["audit"]:
        if (event["action"], event["resource"]) not in seen:
            audit.append(AuditEvent(**{**event, "details": {**event.get("details", {}), "plan_id": plan["plan_id"]}}))


def apply_plan(settings: Settings, store: SemanticStore, audit: AuditLog, plan: dict[str, Any], replay: bool = False) -> None:
    """Write a journalled plan to every store, then mark it done (caller holds :func:`journal.apply_lock`)."""
    from lakehouse.raw.store import RawStore

    tables = FeedbackTables(settings)
    tables.append("feedback_events", plan["events"])
    journal.checkpoint("after_events")
    rows = _label_rows(plan["versions"])
    if rows:
        RawStore(settings).append("report_labels", rows, source=f"feedback:{plan['plan_id']}", batch_id=plan["plan_id"])
    journal.checkpoint("after_report_labels")
    columns = [name for name, _ in SCHEMAS["label_versions"][1]]
    tables.append("label_versions", [{**{c: v[c] for c in columns}, "labels": dumps(v["labels"]), "changed": dumps(v["changed"])} for v in plan["versions"]])
    journal.checkpoint("after_label_versions")
    for i, v in enumerate(plan["versions"]):
        labels = v["labels"]
        payload = {"labels": labels, "positive_findings": positive_findings(labels), "label_version": v["version"]}
        if "label_events" in v:  # a plan journalled before label_events existed replays without them
            payload["label_events"] = v["label_events"]
        store.set_payload(v["case_id"], payload)
        if i == 0:
            journal.checkpoint("mid_payloads")
    journal.checkpoint("after_payloads")
    _audit(audit, plan, replay)
    journal.checkpoint("after_audit")
    journal.done(settings, plan["plan_id"])


def replay_pending(settings: Settings, store: SemanticStore, audit: AuditLog) -> list[str]:
    """Finish every plan a crashed process left in the journal; returns their ids (caller holds the lock)."""
    replayed = []
    for plan in journal.pending(settings):
        apply_plan(settings, store, audit, plan, replay=True)
        replayed.append(plan["plan_id"])
    return replayed
